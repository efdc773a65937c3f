"""Submissions whose `input_file` is still an object in the uploads bucket: what the
upload trigger recorded before it copied accepted objects into the content location
(decision record 0025). `assay admin migrate upload-inputs` reads them a page at a time
and points each at its copy, on condition that the record did not change meanwhile."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import Submission
from shared.persistence.firestore.documents import SUBMISSIONS, Collections, from_snapshot
from shared.persistence.ports import StoredInput


def _of(snap: Any) -> StoredInput:
    return StoredInput(from_snapshot(Submission, snap), snap.update_time)


class FirestoreUploadInputs(Collections):
    """`Repositories.upload_inputs`."""

    def under(self, root_uri: str, limit: int, after: Any = None) -> tuple[list[StoredInput], Any]:
        """Submissions whose input is an object under `root_uri`, in URI order, and the
        cursor of the next page. A purged one has no input, so none is among them."""
        prefix = root_uri.rstrip("/") + "/"
        query = (
            self.db.collection(SUBMISSIONS)
            .where(filter=FieldFilter("input_file", ">=", prefix))
            .where(filter=FieldFilter("input_file", "<", prefix[:-1] + "0"))  # "/" + 1
            .order_by("input_file")
            .limit(limit)
        )
        if after is not None:
            query = query.start_after(after)
        snaps = list(query.stream())
        return [_of(s) for s in snaps], (snaps[-1] if snaps else after)

    def find(self, submission_id: str) -> StoredInput | None:
        snap = self.db.collection(SUBMISSIONS).document(submission_id).get()
        return _of(snap) if snap.exists else None

    def repoint(self, read: StoredInput, input_file: str) -> bool:
        """Points the submission at `input_file` unless it changed since `read` (a purge
        that cleared it meanwhile wins). False, and nothing written, when it did."""
        ref = self.db.collection(SUBMISSIONS).document(read.submission.id)
        option = self.db.write_option(last_update_time=read.version)
        try:
            ref.update({"input_file": input_file}, option=option)
        except (gexc.FailedPrecondition, gexc.NotFound):
            return False
        return True
