"""A run's findings and artifacts (`runs/{id}/findings`, `runs/{id}/artifacts`), written
in batches under deterministic ids, so a repeated write overwrites."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import Artifact, Finding, ValidationRun
from shared.persistence.firestore.documents import (
    ARTIFACTS,
    BATCH_BYTES,
    BATCH_LIMIT,
    FINDINGS,
    RUNS,
    Collections,
    doc_bytes,
    to_doc,
)
from shared.persistence.ports import Page


class FirestoreFindings(Collections):
    def _folder(self, run_id: str, collection: str) -> Any:
        return self.db.collection(RUNS).document(run_id).collection(collection)

    def write(self, run_id: str, findings: Iterable[Finding]) -> int:
        """Writes findings in batches. Ids are deterministic, so a repeat overwrites."""
        docs = ((f.id, to_doc(f)) for f in findings)
        return self._set_batched(self._folder(run_id, FINDINGS), docs)

    def _set_batched(self, collection: Any, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Sets each document under its id, a commit per BATCH_LIMIT writes or BATCH_BYTES,
        whichever comes first; reads `docs` as it goes, so they may be a generator."""
        batch = self.db.batch()
        pending = size = written = 0
        for doc_id, doc in docs:
            ref = collection.document(doc_id)
            doc_size = doc_bytes(ref.path) + doc_bytes(doc)
            if pending and (pending == BATCH_LIMIT or size + doc_size > BATCH_BYTES):
                batch.commit()
                written += pending
                batch, pending, size = self.db.batch(), 0, 0
            batch.set(ref, doc)
            pending, size = pending + 1, size + doc_size
        if pending:
            batch.commit()
            written += pending
        return written

    def page(
        self,
        org_id: str,
        run_id: str,
        *,
        severity: str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[Finding]:
        self.owned(RUNS, ValidationRun, org_id, run_id, "run")  # another org's run: a 404
        path = f"{RUNS}/{run_id}/{FINDINGS}"
        query: Any = self.db.collection(path)
        if severity:
            query = query.where(filter=FieldFilter("severity", "==", severity))
        query = query.order_by("step_order").order_by("index")
        query = self.after(query, path, org_id, page_token)
        return self.paged(Finding, list(query.limit(limit + 1).stream()), limit)

    def count(self, run_id: str) -> int:
        result = self._folder(run_id, FINDINGS).count().get()
        return int(result[0][0].value)

    def write_artifacts(self, run_id: str, artifacts: Iterable[Artifact]) -> None:
        docs = ((a.id, to_doc(a)) for a in artifacts)
        self._set_batched(self._folder(run_id, ARTIFACTS), docs)

    def _delete_ids(self, run_id: str, collection: str, ids: Sequence[str]) -> None:
        folder = self._folder(run_id, collection)
        for start in range(0, len(ids), BATCH_LIMIT):
            batch = self.db.batch()
            for doc_id in ids[start : start + BATCH_LIMIT]:
                batch.delete(folder.document(doc_id))
            batch.commit()

    def delete(self, run_id: str, ids: Sequence[str]) -> None:
        self._delete_ids(run_id, FINDINGS, ids)

    def delete_artifacts(self, run_id: str, ids: Sequence[str]) -> None:
        self._delete_ids(run_id, ARTIFACTS, ids)
