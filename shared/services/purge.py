"""Retention: purge a submission's content while keeping its record (decision 0005).

Purging clears the inline content, deletes the stored input file and the execution
bundle of every run of the submission, and sets `content_purged_at`; checksum, name,
size and the rest of the record stay for audit. It never runs while a run of the
submission is PENDING or RUNNING: it is put off, not failed. A purge that fails hands
the submission to a PurgeRetry, retried with backoff until a person is needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.adapters.storage import BlobStore
from shared.adapters.storage.layout import Layout
from shared.adapters.tasks import TaskQueue
from shared.domain.enums import RetentionPolicy, RunStatus
from shared.domain.models import PurgeRetry, PurgeRetryState, Submission, ValidationRun
from shared.domain.retention import RETRY_BACKOFF
from shared.persistence.ports import BATCH_LIMIT, Repositories, UnitOfWork
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.ids import stable_id

if TYPE_CHECKING:
    from shared.persistence.ports import RunToPurge, SubmissionToPurge

log = logging.getLogger(__name__)

ACTIVE = frozenset({RunStatus.PENDING, RunStatus.RUNNING})


class PurgeOutcome(StrEnum):
    PURGED = "purged"
    DEFERRED = "deferred"  # a run of the submission is still going: next time
    FAILED = "failed"  # storage said no: a PurgeRetry has it now


@dataclass
class SweepReport:
    purged: int = 0
    deferred: int = 0
    failed: int = 0
    handed_to_retry: int = 0
    batches: int = 0
    outputs_purged: int = 0
    stopped_early: bool = False
    errors: list[str] = field(default_factory=list)


def _busy(runs: Sequence[ValidationRun | RunToPurge]) -> bool:
    return any(r.status in ACTIVE for r in runs)


def _delete_copies(
    store: BlobStore,
    layout: Layout,
    input_file: str | None,
    runs: Sequence[ValidationRun | RunToPurge],
) -> None:
    """Storage first: the record says "purged" only once nothing is left to find."""
    if input_file:
        store.delete(input_file)
    for run in runs:
        store.delete_prefix(layout.run_prefix(run.org_id, run.id))


def _mark_purged(
    transaction: UnitOfWork,
    repos: Repositories,
    deleted: dict[str, set[str]],
    at: datetime,
) -> dict[str, PurgeOutcome]:
    """Marks the submissions (and their runs) purged, given the runs whose copies were
    deleted for each. The runs are read again inside the transaction a rerun writes
    through: one that is running, or that started (and even ended) since the copies were
    deleted, defers its submission, so nothing is marked purged that was not deleted."""
    submission_ids = list(deleted)
    submissions = transaction.submissions_by_id(submission_ids)
    runs = transaction.runs_of(submissions)
    outcomes: dict[str, PurgeOutcome] = {}
    for submission_id in submission_ids:
        current = runs[submission_id]
        if _busy(current) or {r.id for r in current} - deleted[submission_id]:
            outcomes[submission_id] = PurgeOutcome.DEFERRED
            continue
        submission = submissions.get(submission_id)
        if submission is not None and submission.content_purged_at is None:
            transaction.mark_submission_purged(submission_id, at)
        for run in runs[submission_id]:
            if run.output_purged_at is None:
                transaction.mark_run_purged(run.id, at)
        outcomes[submission_id] = PurgeOutcome.PURGED
    return outcomes


def purge_content(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    submission_id: str,
    now: Clock = utcnow,
) -> PurgeOutcome:
    """Purges one submission's content and every copy its runs made. Safe to repeat.
    Returns PURGED or DEFERRED; a storage failure raises."""
    submission = repos.submissions.find(submission_id)
    runs = repos.runs.of({submission_id: submission})[submission_id]
    if _busy(runs):
        return PurgeOutcome.DEFERRED
    _delete_copies(
        store, Layout(settings.storage_uri), submission.input_file if submission else None, runs
    )
    deleted = {submission_id: {r.id for r in runs}}
    outcomes = repos.transact(lambda t: _mark_purged(t, repos, deleted, now()))
    outcome: PurgeOutcome = outcomes[submission_id]
    log.info("purge %s", outcome.value, extra={"submission_id": submission_id})
    return outcome


# -- PurgeRetry ------------------------------------------------------------------


def schedule_purge(transaction: UnitOfWork, run: ValidationRun) -> None:
    """Called in the transaction that ends a run: a DO_NOT_STORE submission gets a
    PurgeRetry due when the run ended, the safety net under the immediate purge task."""
    if run.submission_retention is not RetentionPolicy.DO_NOT_STORE or not run.submission_id:
        return
    if run.stored_nothing:
        return
    at = run.ended_at or run.created_at
    record = PurgeRetry(
        id=run.submission_id,
        org_id=run.org_id,
        submission_id=run.submission_id,
        reason="DO_NOT_STORE",
        next_retry_at=at,
        created_at=at,
        updated_at=at,
    )
    transaction.save(record)


def queue_purge(queue: TaskQueue, settings: Settings, run: ValidationRun | None) -> None:
    """Asks for the purge at once, so DO_NOT_STORE content is gone within seconds rather
    than at the next retry tick. Best effort: the PurgeRetry stays as the safety net."""
    if run is None or not run.terminal or not run.submission_id:
        return
    if run.submission_retention is not RetentionPolicy.DO_NOT_STORE or run.stored_nothing:
        return
    try:
        queue.enqueue(
            "purge-" + stable_id(run.submission_id, run.id),
            settings.purge_url,
            {"submission_id": run.submission_id},
            audience=settings.purge_url,
        )
    except Exception:
        log.warning(
            "could not queue the immediate purge",
            exc_info=True,
            extra={"submission_id": run.submission_id},
        )


def record_failure(
    repos: Repositories,
    submission_id: str,
    org_id: str,
    error: str,
    now: Clock = utcnow,
    *,
    manual: bool = False,
) -> PurgeRetry:
    """Creates or advances the submission's PurgeRetry after a failed purge."""

    def advance(transaction: UnitOfWork) -> PurgeRetry:
        at = now()
        existing = transaction.purge_retry(submission_id)
        transaction.hand_to_retry(submission_id, at)
        if existing is None:
            record = _first_failure(submission_id, org_id, error, at)
        else:
            record = _next_failure(existing, error, at, manual=manual)
        transaction.save(record)
        return record

    record: PurgeRetry = repos.transact(advance)
    _log_failure(record, submission_id, org_id, error)
    return record


def _first_failure(submission_id: str, org_id: str, error: str, at: datetime) -> PurgeRetry:
    return PurgeRetry(
        id=submission_id,
        org_id=org_id,
        submission_id=submission_id,
        reason="purge failed",
        next_retry_at=at + RETRY_BACKOFF[0],
        last_error=error,
        created_at=at,
        updated_at=at,
    )


def _next_failure(record: PurgeRetry, error: str, at: datetime, *, manual: bool) -> PurgeRetry:
    """`record` advanced by one more failure: the next retry further off, or a person
    needed once the backoff is spent (at once for a person's own attempt)."""
    if record.last_error is None and not manual:
        # The first failure of a scheduled (DO_NOT_STORE) purge starts the backoff.
        record.next_retry_at = at + RETRY_BACKOFF[0]
    else:
        record.attempt_count += 1
        if manual or record.attempt_count >= len(RETRY_BACKOFF):
            record.state = PurgeRetryState.NEEDS_ATTENTION
        else:
            record.next_retry_at = at + RETRY_BACKOFF[record.attempt_count]
    record.last_error, record.updated_at = error, at
    return record


def _log_failure(record: PurgeRetry, submission_id: str, org_id: str, error: str) -> None:
    if record.state is PurgeRetryState.NEEDS_ATTENTION:
        log.error(
            "purge of submission %s needs a person after %s failed attempts: %s",
            submission_id,
            record.attempt_count,
            error,
            extra={"submission_id": submission_id, "org_id": org_id, "last_error": error},
        )
    else:
        log.warning(
            "purge failed; retry at %s",
            record.next_retry_at,
            extra={"submission_id": submission_id, "last_error": error},
        )


def attempt(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    submission_id: str,
    org_id: str,
    now: Clock = utcnow,
    *,
    manual: bool = False,
    tracked: bool = True,
) -> PurgeOutcome:
    """One purge attempt with its bookkeeping: success removes the PurgeRetry, a put-off
    waits a minute, a failure advances the backoff (creating the record if need be).
    `tracked=False` says the caller knows there is no record yet."""
    try:
        outcome = purge_content(repos, store, settings, submission_id, now)
    except Exception as exc:  # noqa: BLE001 - any storage failure is retried, not lost
        record_failure(
            repos, submission_id, org_id, f"{type(exc).__name__}: {exc}", now, manual=manual
        )
        return PurgeOutcome.FAILED
    if not tracked:
        return outcome
    if outcome is PurgeOutcome.PURGED:
        repos.purge_retries.delete(submission_id)
    else:
        repos.purge_retries.put_off(submission_id, now() + RETRY_BACKOFF[0], now())
    return outcome


def process_retries(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    *,
    batch_size: int = 50,
    now: Clock = utcnow,
) -> SweepReport:
    report = SweepReport()
    records = repos.purge_retries.due(now(), batch_size)
    report.batches = 1 if records else 0
    for record in records:
        outcome = attempt(repos, store, settings, record.submission_id, record.org_id, now)
        _count(report, outcome)
    return report


def retry_by_hand(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    record_id: str,
    now: Clock = utcnow,
) -> PurgeOutcome:
    record = repos.purge_retries.find(record_id)
    if record is None:
        raise LookupError(f"no purge retry {record_id!r}")
    return attempt(
        repos,
        store,
        settings,
        record.submission_id,
        record.org_id,
        now,
        manual=record.state is PurgeRetryState.NEEDS_ATTENTION,
    )


def list_retries(repos: Repositories, *, everything: bool = False) -> list[PurgeRetry]:
    return repos.purge_retries.all(None if everything else PurgeRetryState.NEEDS_ATTENTION)


# -- the hourly sweep -----------------------------------------------------------------


def _count(report: SweepReport, outcome: PurgeOutcome) -> None:
    if outcome is PurgeOutcome.PURGED:
        report.purged += 1
    elif outcome is PurgeOutcome.DEFERRED:
        report.deferred += 1
    else:
        report.failed += 1


def purge_expired(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    *,
    batch_size: int = 500,
    max_batches: int = 10,
    deadline: float | None = None,
    now: Clock = utcnow,
) -> SweepReport:
    """Purges submissions whose `expires_at` has passed, then expired outputs. Stops at
    `deadline` (a time.monotonic() value) and leaves the rest for the next tick."""
    report = SweepReport()
    at = now()
    stop = deadline if deadline is not None else time.monotonic() + settings.purge_deadline_seconds
    cursor: Any = None
    for _ in range(max_batches):
        if time.monotonic() >= stop:
            report.stopped_early = True
            break
        page = _read_page(repos, at, batch_size, cursor)
        if not page.submissions:
            break
        report.batches += 1
        _purge_page(repos, store, settings, page, report, stop, now)
        cursor = page.cursor
        if report.stopped_early or cursor is None:
            break
    if not report.stopped_early:
        report.outputs_purged = purge_expired_outputs(
            repos,
            store,
            settings,
            batch_size=batch_size,
            max_batches=max_batches,
            deadline=stop,
            now=now,
        )
    return report


@dataclass
class _Page:
    submissions: list[SubmissionToPurge]
    owned: set[str]  # those a PurgeRetry has: the retry function purges them
    runs: dict[str, list[RunToPurge]]  # of the others
    cursor: Any


def _read_page(repos: Repositories, at: datetime, size: int, cursor: Any) -> _Page:
    submissions, cursor = repos.sweeps.expired_submissions(at, size, cursor)
    # The flag says which to look up, and the record must still be there: a flag with no
    # record behind it (a record removed by hand) would otherwise hide its submission
    # from every sweep.
    owned = repos.purge_retries.among([s.id for s in submissions if s.handed_to_retry])
    runs = repos.sweeps.runs_of([s for s in submissions if s.id not in owned])
    return _Page(submissions, owned, runs, cursor)


def _purge_page(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    page: _Page,
    report: SweepReport,
    stop: float,
    now: Clock,
) -> None:
    """One page of the sweep at the cost of a few reads and one commit per BATCH_LIMIT
    writes, where one submission at a time cost a transaction each."""
    report.handed_to_retry += len(page.owned)
    mine = [s for s in page.submissions if s.id not in page.owned]
    runs = page.runs
    layout, cleared = Layout(settings.storage_uri), []
    for submission in mine:
        if time.monotonic() >= stop:
            report.stopped_early = True
            break
        if _busy(runs[submission.id]):
            report.deferred += 1
            continue
        try:
            _delete_copies(store, layout, submission.input_file, runs[submission.id])
        except Exception as exc:  # noqa: BLE001 - any storage failure is retried, not lost
            _failed(repos, [submission], exc, now, report)
            continue
        cleared.append(submission)
    for chunk in _within_batch_limit(cleared, runs):
        for outcome in _mark_chunk(repos, chunk, runs, report, now).values():
            _count(report, outcome)
    log.info("purge page", extra={"purged": report.purged, "deferred": report.deferred})


def _mark_chunk(
    repos: Repositories,
    chunk: list[SubmissionToPurge],
    runs: dict[str, list[RunToPurge]],
    report: SweepReport,
    now: Clock,
) -> dict[str, PurgeOutcome]:
    """Marks a commit's worth at once if nothing changed since the page was read, which
    is the rule; else decides each again in a transaction, from a fresh read."""
    try:
        if repos.sweeps.mark_purged_unless_changed([(s, runs[s.id]) for s in chunk], now()):
            return {s.id: PurgeOutcome.PURGED for s in chunk}
        deleted = {s.id: {r.id for r in runs[s.id]} for s in chunk}
        outcomes: dict[str, PurgeOutcome] = repos.transact(
            lambda t: _mark_purged(t, repos, deleted, now())
        )
        return outcomes
    except Exception as exc:  # noqa: BLE001 - the content is gone; the mark is retried
        _failed(repos, chunk, exc, now, report)
        return {}


def _within_batch_limit(
    submissions: list[SubmissionToPurge], runs: dict[str, list[RunToPurge]]
) -> list[list[SubmissionToPurge]]:
    """Groups whose marks (the submission and each of its runs) fit one commit."""
    chunks: list[list[SubmissionToPurge]] = []
    writes = BATCH_LIMIT
    for submission in submissions:
        needed = 1 + len(runs[submission.id])
        if writes + needed > BATCH_LIMIT:
            chunks.append([])
            writes = 0
        chunks[-1].append(submission)
        writes += needed
    return chunks


def _failed(
    repos: Repositories,
    submissions: Sequence[Submission | SubmissionToPurge],
    exc: Exception,
    now: Clock,
    report: SweepReport,
) -> None:
    for submission in submissions:
        record_failure(repos, submission.id, submission.org_id, f"{type(exc).__name__}: {exc}", now)
        report.failed += 1


def purge_expired_outputs(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    *,
    batch_size: int,
    max_batches: int,
    deadline: float,
    now: Clock = utcnow,
) -> int:
    """The safety net: execution bundles of ended runs whose output retention passed, a
    page at a time, its bundles deleted and then its runs marked in one commit. Returns
    how many were purged."""
    layout = Layout(settings.storage_uri)
    at = now()
    purged, cursor = 0, None
    for _ in range(max_batches):
        if time.monotonic() >= deadline:
            break
        runs, cursor = repos.sweeps.expired_outputs(at, batch_size, cursor)
        purged += repos.sweeps.mark_outputs_purged(_delete_bundles(store, layout, runs), at)
        if cursor is None:
            break
    return purged


def _delete_bundles(
    store: BlobStore, layout: Layout, runs: Sequence[RunToPurge]
) -> list[RunToPurge]:
    """The runs whose bundle is gone. One that storage would not delete stays unmarked,
    and the page after this one starts past it: the next sweep tries it again."""
    deleted = []
    for run in runs:
        try:
            store.delete_prefix(layout.run_prefix(run.org_id, run.id))
        except Exception:
            log.warning(
                "could not delete an expired bundle", exc_info=True, extra={"run_id": run.id}
            )
            continue
        deleted.append(run)
    return deleted
