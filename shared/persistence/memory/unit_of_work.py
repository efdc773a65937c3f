"""The memory twin's units of work. A transaction is optimistic, like Firestore's from
the caller's side: an attempt reads committed state and notes what it saw, buffers its
writes, and commits under the store's lock only if nothing it saw has changed; else
the attempt is thrown away (its effects with it) and run again. A read that finds an
earlier one already stale ends the attempt at once, so no attempt acts on an
inconsistent view."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from shared.domain.enums import ReceiptState
from shared.domain.models import (
    CallbackReceipt,
    Model,
    PurgeRetry,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowVersion,
)
from shared.persistence.memory import edits, evidence, reads
from shared.persistence.memory.store import (
    CALLBACK_RECEIPTS,
    PURGE_RETRIES,
    RUNS,
    SUBMISSIONS,
    UPLOAD_EVENTS,
    UPLOAD_GRANTS,
    GrantClaim,
    Store,
    Stored,
    Write,
    copy_in,
    create,
    fields,
    home_of,
    put,
    update,
)
from shared.persistence.ports import Effect
from shared.platform.errors import Transient

if TYPE_CHECKING:
    from shared.domain.evidence import Manifest

T = TypeVar("T")


class ReadAfterWrite(RuntimeError):
    """A unit of work read after it wrote (Firestore refuses that too)."""


class _Stale(Exception):
    """What an attempt read changed before it finished: run it again."""


@dataclass(frozen=True)
class _Seen:
    """What one read saw: a document's version (None: absent), or a query's matches."""

    collection: str
    key: str | None
    version: int | None = None
    where: reads.Where | None = None
    matches: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    def holds(self, store: Store) -> bool:
        if self.key is not None:
            stored = store.get(self.collection, self.key)
            return (None if stored is None else stored.version) == self.version
        assert self.where is not None
        return _matches(store, self.collection, self.where) == self.matches


def _matches(store: Store, collection: str, where: reads.Where) -> frozenset[tuple[str, int]]:
    return frozenset((k, s.version) for k, s in store.scan(collection) if where(s.model))


class _Tracked:
    """A reader that notes what it saw, and refuses to read past a stale view."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.uow = uow

    def get(self, collection: str, key: str) -> Stored | None:
        with self.uow.store.lock:
            self.uow.check_reads()
            stored = self.uow.store.get(collection, key)
            version = None if stored is None else stored.version
            self.uow.seen.append(_Seen(collection, key, version))
            return stored

    def query(self, collection: str, where: reads.Where) -> list[tuple[str, Stored]]:
        with self.uow.store.lock:
            self.uow.check_reads()
            found = [(k, s) for k, s in self.uow.store.scan(collection) if where(s.model)]
            matches = frozenset((k, s.version) for k, s in found)
            self.uow.seen.append(_Seen(collection, None, where=where, matches=matches))
            return found


class MemoryUnitOfWork:
    """One attempt of a read-then-write transaction (ports.UnitOfWork)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen: list[_Seen] = []
        self.writes: list[Write] = []
        self.effects: list[Effect] = []
        self.doomed = False
        self._reader = _Tracked(self)

    def check_reads(self) -> None:
        if self.writes:
            raise ReadAfterWrite("a unit of work reads before it writes")
        if not self.still_current():
            self.doomed = True
            raise _Stale("a document this attempt read has changed")

    def still_current(self) -> bool:
        with self.store.lock:
            return all(seen.holds(self.store) for seen in self.seen)

    # -- reads ---------------------------------------------------------------------
    def run(self, run_id: str) -> ValidationRun | None:
        return reads.find_run(self._reader, run_id)

    def submission(self, submission_id: str | None) -> Submission | None:
        return reads.find_submission(self._reader, submission_id)

    def workflow(self, org_id: str, slug: str) -> Workflow | None:
        return reads.find_workflow(self._reader, org_id, slug)

    def version(self, workflow: Workflow, number: int | None = None) -> WorkflowVersion:
        return reads.get_version(self._reader, workflow, number)

    def receipt(self, callback_id: str) -> CallbackReceipt | None:
        return reads.find(self._reader, CALLBACK_RECEIPTS, callback_id, CallbackReceipt)

    def purge_retry(self, submission_id: str) -> PurgeRetry | None:
        return reads.find(self._reader, PURGE_RETRIES, submission_id, PurgeRetry)

    def submissions_by_id(self, ids: Sequence[str]) -> dict[str, Submission | None]:
        return reads.submissions_by_id(self._reader, ids)

    def runs_of(self, submissions: dict[str, Submission | None]) -> dict[str, list[ValidationRun]]:
        return reads.runs_of(self._reader, submissions)

    # -- writes --------------------------------------------------------------------
    def save(self, model: Model) -> None:
        self.writes.append(put(*home_of(model), model))

    def create(self, model: Model) -> None:
        self.writes.append(create(*home_of(model), model))

    def add_run(self, submission_id: str, run_id: str) -> None:
        self.writes.append(update(SUBMISSIONS, submission_id, edits.run_added(run_id)))

    def close_receipt(self, callback_id: str, at: datetime) -> None:
        done = fields(state=ReceiptState.DONE, completed_at=at)
        self.writes.append(update(CALLBACK_RECEIPTS, callback_id, done))

    def clear_reconcile(self, run_id: str) -> None:
        self.writes.append(update(RUNS, run_id, fields(reconcile_at=None)))

    def hand_to_retry(self, submission_id: str, at: datetime) -> None:
        submission = self.submission(submission_id)  # a read: before any write
        if submission is not None and submission.purge_retry_since is None:
            noted = fields(purge_retry_since=at)
            self.writes.append(update(SUBMISSIONS, submission_id, noted))

    def mark_submission_purged(self, submission_id: str, at: datetime) -> None:
        purged = edits.submission_purged(at)
        self.writes.append(update(SUBMISSIONS, submission_id, purged))

    def mark_run_purged(self, run_id: str, at: datetime) -> None:
        self.writes.append(update(RUNS, run_id, edits.run_purged(at)))

    def record_evidence(self, manifest: Manifest) -> None:
        self.writes.append(evidence.record(manifest))

    def after_commit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def commit(self) -> bool:
        """Commits the writes unless what the attempt read has changed (False). An
        attempt that only read stands as of its last read, which saw a consistent view."""
        if not self.writes and not self.doomed:
            return True
        with self.store.lock:
            if self.doomed or not self.still_current():
                return False
            self.store.commit(self.writes)
            return True


def transact(store: Store, fn: Callable[[MemoryUnitOfWork], T], max_attempts: int) -> T:
    """Runs `fn` until an attempt commits, then that attempt's effects, in order."""
    for attempt in range(max_attempts):
        uow = MemoryUnitOfWork(store)
        try:
            result = fn(uow)
        except Exception as exc:
            # An error raised from a consistent view is the caller's to see; one
            # raised from a stale view (or the stale read itself) is retried.
            if not (uow.doomed or isinstance(exc, _Stale)):
                raise
            _back_off(attempt)
            continue
        if uow.commit():
            for effect in uow.effects:
                effect()
            return result
        _back_off(attempt)
    raise Transient(
        "the record is busy with concurrent updates; retry shortly",
        headers={"Retry-After": "1"},
    )


def _back_off(attempt: int) -> None:
    """A short random wait, so contending attempts stop colliding in step."""
    time.sleep(random.uniform(0, 0.0005 * 2 ** min(attempt, 6)))  # noqa: S311 - jitter


class MemoryBatch:
    """Writes committed together, all or none (ports.WriteBatch)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._writes: list[Write] = []

    def create(self, model: Model) -> None:
        self._writes.append(create(*home_of(model), model))

    def replace_unless_changed(self, model: Model, since: object) -> None:
        collection, key = home_of(model)
        stored = copy_in(model, key)
        replace = update(collection, key, lambda _: stored, since=since)
        self._writes.append(replace)

    def accept_upload(self, event: UploadEvent) -> None:
        self._writes.append(create(UPLOAD_EVENTS, event.id, event))
        if event.upload_id is not None:
            claim = GrantClaim(event_id=event.id, expire_at=event.expire_at)
            self._writes.append(create(UPLOAD_GRANTS, event.upload_id, claim))

    def commit(self) -> None:
        self._store.commit(self._writes)
