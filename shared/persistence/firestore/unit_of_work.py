"""The units of work over Firestore: a transaction attempt and a batch. They read and
write whole aggregates by what they are, never a document reference, and Firestore's
own write conflicts become `shared.platform.errors`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from shared.domain.enums import ReceiptState
from shared.domain.models import (
    CallbackReceipt,
    IdempotencyRecord,
    Model,
    PurgeRetry,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowVersion,
)
from shared.persistence.firestore.documents import (
    CALLBACK_RECEIPTS,
    IDEMPOTENCY_KEYS,
    PURGE_RETRIES,
    RUNS,
    SUBMISSIONS,
    WORKFLOWS,
    to_doc,
    translated,
)
from shared.persistence.ports import Effect

if TYPE_CHECKING:
    from shared.domain.evidence import Manifest
    from shared.persistence.firestore.store import FirestoreRepositories

# Where each aggregate a unit of work writes lives, and the field that keys it.
_HOMES: dict[type[Model], tuple[str, str]] = {
    ValidationRun: (RUNS, "id"),
    Submission: (SUBMISSIONS, "id"),
    Workflow: (WORKFLOWS, "id"),
    PurgeRetry: (PURGE_RETRIES, "submission_id"),
    CallbackReceipt: (CALLBACK_RECEIPTS, "id"),
    IdempotencyRecord: (IDEMPOTENCY_KEYS, "id"),
}


def home_of(db: Any, model: Model) -> Any:
    """The document an aggregate is written to."""
    if isinstance(model, WorkflowVersion):
        from shared.persistence.firestore.workflows import version_ref

        return version_ref(db, model.workflow_id, model.version)
    collection, key = _HOMES[type(model)]
    return db.collection(collection).document(str(getattr(model, key)))


class Transaction:
    """One attempt of a read-then-write transaction (`ports.UnitOfWork`)."""

    def __init__(self, repos: FirestoreRepositories, raw: Any) -> None:
        self._repos = repos
        self._db = repos.db
        self.raw = raw
        self.effects: list[Effect] = []

    # -- reads -------------------------------------------------------------------
    def run(self, run_id: str) -> ValidationRun | None:
        return self._repos.runs.find(run_id, self.raw)

    def submission(self, submission_id: str | None) -> Submission | None:
        return self._repos.submissions.find(submission_id, self.raw)

    def workflow(self, org_id: str, slug: str) -> Workflow | None:
        return self._repos.workflows.find(org_id, slug, self.raw)

    def version(self, workflow: Workflow, number: int | None = None) -> WorkflowVersion:
        return self._repos.workflows.version(workflow, number, self.raw)

    def receipt(self, callback_id: str) -> CallbackReceipt | None:
        return self._repos.receipts.find(callback_id, self.raw)

    def purge_retry(self, submission_id: str) -> PurgeRetry | None:
        return self._repos.purge_retries.find(submission_id, self.raw)

    def submissions_by_id(self, ids: Sequence[str]) -> dict[str, Submission | None]:
        return self._repos.submissions.by_id(ids, self.raw)

    def runs_of(self, submissions: dict[str, Submission | None]) -> dict[str, list[ValidationRun]]:
        return self._repos.runs.of(submissions, self.raw)

    # -- writes ------------------------------------------------------------------
    def save(self, model: Model) -> None:
        self.raw.set(home_of(self._db, model), to_doc(model))

    def create(self, model: Model) -> None:
        self.raw.create(home_of(self._db, model), to_doc(model))

    def add_run(self, submission_id: str, run_id: str) -> None:
        self.raw.update(
            self._db.collection(SUBMISSIONS).document(submission_id),
            {"latest_run_id": run_id, "run_ids": firestore.ArrayUnion([run_id])},
        )

    def close_receipt(self, callback_id: str, at: datetime) -> None:
        ref = self._db.collection(CALLBACK_RECEIPTS).document(callback_id)
        self.raw.update(ref, {"state": ReceiptState.DONE.value, "completed_at": at})

    def clear_reconcile(self, run_id: str) -> None:
        self.raw.update(self._db.collection(RUNS).document(run_id), {"reconcile_at": None})

    def hand_to_retry(self, submission_id: str, at: datetime) -> None:
        ref = self._db.collection(SUBMISSIONS).document(submission_id)
        snap = ref.get(transaction=self.raw, field_paths=["purge_retry_since"])
        if snap.exists and (snap.to_dict() or {}).get("purge_retry_since") is None:
            self.raw.update(ref, {"purge_retry_since": at})

    def mark_submission_purged(self, submission_id: str, at: datetime) -> None:
        from shared.persistence.firestore.sweeps import mark_submission_purged

        mark_submission_purged(self._db, self.raw, submission_id, at)

    def mark_run_purged(self, run_id: str, at: datetime) -> None:
        from shared.persistence.firestore.sweeps import mark_run_purged

        mark_run_purged(self._db, self.raw, run_id, at)

    def record_evidence(self, manifest: Manifest) -> None:
        from shared.persistence.firestore.evidence import record

        record(self._db, self.raw, manifest)

    def after_commit(self, effect: Effect) -> None:
        self.effects.append(effect)


class Batch:
    """Writes committed together, all or none (`ports.WriteBatch`)."""

    def __init__(self, repos: FirestoreRepositories) -> None:
        self._repos = repos
        self.raw = repos.db.batch()

    def create(self, model: Model) -> None:
        self.raw.create(home_of(self._repos.db, model), to_doc(model))

    def replace_unless_changed(self, model: Model, since: Any) -> None:
        option = self._repos.db.write_option(last_update_time=since)
        self.raw.update(home_of(self._repos.db, model), to_doc(model), option=option)

    def accept_upload(self, event: UploadEvent) -> None:
        self._repos.uploads.accept(self.raw, event)

    def commit(self) -> None:
        with translated():
            self.raw.commit()
