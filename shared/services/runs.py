"""What a user does to runs after submitting: cancel one, or run a submission again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.adapters.tasks import TaskQueue
from shared.domain.callers import Caller
from shared.domain.enums import AuditAction, ErrorCategory, RunStatus
from shared.domain.models import Submission, ValidationRun
from shared.domain.roles import ACTS_FOR_OTHERS
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import Conflict, Forbidden, NotFound
from shared.platform.ids import new_id
from shared.services import audit
from shared.services.dispatch import enqueue_launch
from shared.services.finalize import Ended, FollowUp, end_run
from shared.services.submissions import build_run

log = logging.getLogger(__name__)


def cancel_run(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    org_id: str,
    run_id: str,
    now: Clock = utcnow,
    *,
    caller: Caller | None = None,
    by: audit.By | None = None,
) -> ValidationRun:
    """PENDING or RUNNING → CANCELED, later steps SKIPPED, and its execution's cancel
    queued for the launch function. Cancelling a cancelled run again changes nothing; any
    other finished run is a 409. A `caller` below ACTS_FOR_OTHERS cancels only the runs
    of its own submissions (None: Assay itself, or an operator)."""

    def cancel(transaction: UnitOfWork) -> tuple[ValidationRun, Ended | None]:
        run = transaction.run(run_id)
        if run is None or run.org_id != org_id:
            raise NotFound(f"run {run_id!r} not found")
        if caller is not None:
            submission = transaction.submission(run.submission_id)
            _own(caller, submission, f"cancelling run {run_id!r}")
        if run.status is RunStatus.CANCELED:
            return run, None
        if run.terminal:
            raise Conflict(
                f"run {run_id!r} already ended {run.status.value} ({run.result.value}); "
                "only a PENDING or RUNNING run can be cancelled"
            )
        ended = end_run(
            transaction,
            run,
            RunStatus.CANCELED,
            now(),
            FollowUp(queue, settings),
            error_category=ErrorCategory.CANCELED,
            error="cancelled on request",
        )
        return run, ended

    decided: tuple[ValidationRun, Ended | None] = repos.transact(cancel)
    run, ended = decided
    if ended is not None:
        log.info("run cancelled", extra={"run_id": run.id})
    if by is not None:  # a second cancel is the first one's entry (once per run)
        audit.run_changed(repos, by, AuditAction.RUN_CANCELLED, run)
    return run


def rerun(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    org_id: str,
    submission_id: str,
    user: str | None,
    now: Clock = utcnow,
    *,
    caller: Caller | None = None,
    by: audit.By | None = None,
) -> tuple[ValidationRun, Submission]:
    """A new run of the same content on the submission's pinned workflow version. The
    run holds the content against purge until it ends (the purge defers while a run of
    the submission is active), so a `caller` below ACTS_FOR_OTHERS re-runs only its own
    submissions: it cannot hold another key's content, nor start runs it cannot cancel."""
    submission = repos.submissions.get(org_id, submission_id)
    if caller is not None:
        _own(caller, submission, f"re-running submission {submission_id!r}")
    workflow = repos.workflows.get(org_id, submission.workflow_slug)
    version = repos.workflows.version(workflow, submission.workflow_version)
    run_id = new_id()

    def create(transaction: UnitOfWork) -> tuple[ValidationRun, Submission]:
        current = transaction.submission(submission_id)
        if current is None or current.org_id != org_id:
            raise NotFound(f"submission {submission_id!r} not found")
        if current.content_purged_at is not None:
            raise Conflict(
                f"submission {submission_id!r} has no content to run again: it was purged "
                f"at {current.content_purged_at.isoformat()} under its retention policy "
                f"{current.retention_policy.value}; submit the file again"
            )
        run = build_run(current, version, run_id, now(), user, settings)
        transaction.create(run)
        transaction.add_run(current.id, run.id)
        current.latest_run_id = run.id
        current.run_ids.append(run.id)
        return run, current

    created: tuple[ValidationRun, Submission] = repos.transact(create)
    enqueue_launch(queue, settings, created[0].id, 0, 1)
    log.info("run again", extra={"run_id": created[0].id, "submission_id": submission_id})
    if by is not None:
        details = {"submission_id": submission_id}
        audit.run_changed(repos, by, AuditAction.RUN_RERUN, created[0], details)
    return created


def acts_on(caller: Caller, submission: Submission | None) -> bool:
    """Whether `caller` may cancel or re-run what `submission` started: its own
    submissions, or anyone's from ACTS_FOR_OTHERS up."""
    own = submission is not None and submission.api_key_id == caller.id
    return own or caller.role.allows(ACTS_FOR_OTHERS)


def _own(caller: Caller, submission: Submission | None, action: str) -> None:
    """Forbidden unless `caller` submitted `submission` or may act for others. Called once
    the object is known to be the caller's org's: tenancy decides before the role."""
    if not acts_on(caller, submission):
        raise Forbidden(
            f"{action}: it was not submitted with this API key, and acting on another "
            f"key's submissions needs role {ACTS_FOR_OTHERS.value!r} or above; this key's "
            f"role is {caller.role.value!r}"
        )


# Prefer: wait=N (RFC 7240) is honoured up to this many seconds.
MAX_WAIT_SECONDS = 30


def wait_for_end(
    repos: Repositories,
    org_id: str,
    run: ValidationRun,
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    *,
    since: float | None = None,
) -> ValidationRun:
    """The run once it has ended, or as it is `seconds` after `since` (a time.monotonic()
    reading; now by default): read again with a backoff from 50 ms to 1 s, so a short run
    answers quickly and a long one costs few reads. RFC 7240's wait counts from when the
    request was received: an inline run handed to the job path has already spent some."""
    start = time.monotonic() if since is None else since
    deadline = start + min(seconds, MAX_WAIT_SECONDS)
    pause = 0.05
    while not run.terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sleep(min(pause, left))
        pause = min(pause * 2, 1.0)
        run = repos.runs.get(org_id, run.id)
    return run
