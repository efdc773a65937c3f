"""What the purge sweep reads and marks: pages of expired content. A sweep reads
projections (a few fields, not whole documents: a run holds its config and steps, and
decoding full records cost more than the purge itself), and keeps the update time it
read as the precondition of its mark."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.enums import RunStatus
from shared.persistence.firestore.documents import (
    BATCH_LIMIT,
    IN_LIMIT,
    RUNS,
    SUBMISSIONS,
    Collections,
    committed_unless_changed,
)
from shared.persistence.ports import RunToPurge, SubmissionToPurge

SUBMISSION_FIELDS = ["org_id", "input_file", "run_ids", "purge_retry_since", "expires_at"]
RUN_FIELDS = ["org_id", "submission_id", "status", "output_purged_at"]
# A cursor after a run of the output sweep's page needs the field the page is ordered by.
OUTPUT_FIELDS = [*RUN_FIELDS, "output_expires_at"]
SUBMISSION_PURGED = {"content": "", "input_file": None, "expires_at": None}


def submission_to_purge(snap: Any) -> SubmissionToPurge:
    data = snap.to_dict() or {}
    return SubmissionToPurge(
        id=snap.id,
        org_id=data["org_id"],
        input_file=data.get("input_file"),
        run_ids=tuple(data.get("run_ids") or ()),
        handed_to_retry=data.get("purge_retry_since") is not None,
        version=snap.update_time,
    )


def run_to_purge(snap: Any) -> RunToPurge:
    data = snap.to_dict() or {}
    return RunToPurge(
        id=snap.id,
        org_id=data["org_id"],
        submission_id=data.get("submission_id") or "",
        status=RunStatus(data["status"]),
        output_purged=data.get("output_purged_at") is not None,
        version=snap.update_time,
    )


def mark_submission_purged(
    db: Any, writer: Any, submission_id: str, at: datetime, version: Any = None
) -> None:
    """Clears the content and its expiry, keeping the rest of the record for audit.
    `writer` is a transaction or batch (None writes at once); `version`, the update
    time the record must still have."""
    fields = {**SUBMISSION_PURGED, "content_purged_at": at}
    _update(db, writer, db.collection(SUBMISSIONS).document(submission_id), fields, version)


def mark_run_purged(db: Any, writer: Any, run_id: str, at: datetime, version: Any = None) -> None:
    fields = {"output_purged_at": at, "output_expires_at": None}
    _update(db, writer, db.collection(RUNS).document(run_id), fields, version)


def _update(db: Any, writer: Any, ref: Any, fields: dict[str, Any], version: Any) -> None:
    option = None if version is None else db.write_option(last_update_time=version)
    if writer is None:
        ref.update(fields, option=option)
    else:
        writer.update(ref, fields, option=option)


class FirestoreSweeps(Collections):
    def expired_submissions(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[SubmissionToPurge], Any]:
        """Submissions whose content expired by `at`, a page at a time: pass the cursor
        returned with one page to get the next (None when there is no more)."""
        page, cursor = self._expired_page(
            SUBMISSIONS, "expires_at", SUBMISSION_FIELDS, at, limit, after
        )
        return [submission_to_purge(s) for s in page], cursor

    def _expired_page(
        self, collection: str, field: str, fields: list[str], at: datetime, limit: int, after: Any
    ) -> tuple[list[Any], Any]:
        """A page of the projections (`fields`, which must hold `field`: a cursor is made
        of what the page is ordered by) of the documents whose `field` is at or before
        `at`, after `after`, with the cursor to the next (None when no more follow)."""
        query = (
            self.db.collection(collection)
            .where(filter=FieldFilter(field, "<=", at))
            .order_by(field)
            .order_by("__name__")
            .select(fields)
        )
        if after is not None:
            query = query.start_after(after)
        # One more than a page says whether another follows, so the last page is not
        # followed by a query that finds nothing (about 0.1 s on the emulator).
        snaps = list(query.limit(limit + 1).stream())
        page = snaps[:limit]
        return page, page[-1] if len(snaps) > limit else None

    def runs_of(self, submissions: Sequence[SubmissionToPurge]) -> dict[str, list[RunToPurge]]:
        """The runs of each submission, as the purge needs them: by id in one call where
        the record lists them, by query for records from before `run_ids`."""
        refs = [self.db.collection(RUNS).document(rid) for s in submissions for rid in s.run_ids]
        snaps = self.db.get_all(refs, field_paths=RUN_FIELDS) if refs else []
        found = {s.id: run_to_purge(s) for s in snaps if s.exists}
        runs = {s.id: [found[rid] for rid in s.run_ids if rid in found] for s in submissions}
        unlisted = [s.id for s in submissions if not s.run_ids]
        for start in range(0, len(unlisted), IN_LIMIT):
            chunk = unlisted[start : start + IN_LIMIT]
            query = self.db.collection(RUNS).where(filter=FieldFilter("submission_id", "in", chunk))
            for snap in query.select(RUN_FIELDS).stream():
                run = run_to_purge(snap)
                runs[run.submission_id].append(run)
        return runs

    def mark_purged_unless_changed(
        self, marks: Sequence[tuple[SubmissionToPurge, Sequence[RunToPurge]]], at: datetime
    ) -> bool:
        """Marks each submission and its runs purged in one commit, on condition that
        none of them changed since it was read (a rerun changes its submission). False,
        and nothing written, when one did: the caller decides with a fresh read."""
        batch = self.db.batch()
        for submission, runs in marks:
            mark_submission_purged(self.db, batch, submission.id, at, submission.version)
            for run in runs:
                if not run.output_purged:
                    mark_run_purged(self.db, batch, run.id, at, run.version)
        return committed_unless_changed(batch)

    def expired_outputs(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[RunToPurge], Any]:
        """Runs whose execution bundle's retention ended by `at` and is not purged yet, a
        page at a time as `expired_submissions` gives them."""
        page, cursor = self._expired_page(
            RUNS, "output_expires_at", OUTPUT_FIELDS, at, limit, after
        )
        return [run_to_purge(s) for s in page], cursor

    def mark_outputs_purged(self, runs: Sequence[RunToPurge], at: datetime) -> int:
        """Marks the runs' bundles purged, a commit per BATCH_LIMIT, each on condition
        that its run did not change since it was read. When one did, that commit's runs
        are marked one by one, and one that changed is left for the next sweep to find
        again. Returns how many were marked."""
        marked = 0
        for start in range(0, len(runs), BATCH_LIMIT):
            chunk = runs[start : start + BATCH_LIMIT]
            batch = self.db.batch()
            for run in chunk:
                mark_run_purged(self.db, batch, run.id, at, run.version)
            if committed_unless_changed(batch):
                marked += len(chunk)
                continue
            for run in chunk:
                with contextlib.suppress(gexc.FailedPrecondition, gexc.NotFound):
                    mark_run_purged(self.db, None, run.id, at, run.version)
                    marked += 1
        return marked
