"""Units of work: a Firestore transaction or batch as the services see it. They read and
write whole aggregates by what they are (`tx.run(id)`, `tx.save(run)`), never a document
reference, and a transaction runs the effects registered on it once it has committed, so
no caller has to remember them. Firestore's own errors become `shared.platform.errors`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from shared.domain.enums import ReceiptState
from shared.domain.models import (
    CallbackReceipt,
    Model,
    PurgeRetry,
    Submission,
    ValidationRun,
    Workflow,
    WorkflowVersion,
)
from shared.platform.errors import AlreadyExists, ChangedConcurrently

if TYPE_CHECKING:
    from shared.persistence.repositories import Repositories

Effect = Callable[[], None]


@contextmanager
def translated() -> Iterator[None]:
    """Firestore's write conflicts in the words of `shared.platform.errors`."""
    try:
        yield
    except gexc.Conflict as exc:  # ALREADY_EXISTS on create
        raise AlreadyExists(str(exc)) from None
    except (gexc.FailedPrecondition, gexc.Aborted) as exc:  # a precondition failed
        raise ChangedConcurrently(str(exc)) from None


class Transaction:
    """One attempt of a read-then-write transaction. Reads come before writes (Firestore's
    rule); `after_commit` effects run only once the attempt that registered them has
    committed, in the order registered."""

    def __init__(self, repos: Repositories, raw: Any) -> None:
        self._repos = repos
        self.raw = raw  # for the repositories only
        self.effects: list[Effect] = []

    # -- reads -------------------------------------------------------------------
    def run(self, run_id: str) -> ValidationRun | None:
        return self._repos.find_run(run_id, self)

    def submission(self, submission_id: str | None) -> Submission | None:
        return self._repos.find_submission(submission_id, self)

    def workflow(self, org_id: str, slug: str) -> Workflow | None:
        return self._repos.find_workflow(org_id, slug, self)

    def version(self, workflow: Workflow, number: int | None = None) -> WorkflowVersion:
        return self._repos.get_version(workflow, number, self)

    def receipt(self, callback_id: str) -> CallbackReceipt | None:
        return self._repos.find_receipt(callback_id, self)

    def purge_retry(self, submission_id: str) -> PurgeRetry | None:
        snap = self._repos.ref_of(PurgeRetry, submission_id).get(transaction=self.raw)
        return self._repos.load(PurgeRetry, snap) if snap.exists else None

    # -- writes ------------------------------------------------------------------
    def save(self, model: Model) -> None:
        """Writes the whole aggregate, created or replaced."""
        self.raw.set(self._repos.home_of(model), self._doc(model))

    def create(self, model: Model) -> None:
        """Writes a new aggregate; the commit fails with AlreadyExists if it exists."""
        self.raw.create(self._repos.home_of(model), self._doc(model))

    def close_receipt(self, callback_id: str, at: datetime) -> None:
        ref = self._repos.ref_of(CallbackReceipt, callback_id)
        self.raw.update(ref, {"state": ReceiptState.DONE.value, "completed_at": at})

    def add_run(self, submission_id: str, run_id: str) -> None:
        self._repos.add_run(self, submission_id, run_id)

    def clear_reconcile(self, run_id: str) -> None:
        self.raw.update(self._repos.ref_of(ValidationRun, run_id), {"reconcile_at": None})

    def after_commit(self, effect: Effect) -> None:
        self.effects.append(effect)

    @staticmethod
    def _doc(model: Model) -> dict[str, Any]:
        from shared.persistence.repositories import to_doc

        return to_doc(model)


class Batch:
    """Writes committed together, all or none, with no reads to contend over: two
    batches that create the same document collide on commit (AlreadyExists)."""

    def __init__(self, repos: Repositories) -> None:
        self._repos = repos
        self.raw = repos.db.batch()  # for the repositories only

    def create(self, model: Model) -> None:
        self.raw.create(self._repos.home_of(model), Transaction._doc(model))

    def replace_unless_changed(self, model: Model, since: datetime) -> None:
        """Replaces the aggregate if it has not changed since `since` (its update time
        when read); else the commit fails with ChangedConcurrently."""
        option = self._repos.db.write_option(last_update_time=since)
        self.raw.update(self._repos.home_of(model), Transaction._doc(model), option=option)

    def commit(self) -> None:
        with translated():
            self.raw.commit()
