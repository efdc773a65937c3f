"""Ending a run: the one place that sets a terminal status and what follows from it.

Every way a run ends (a callback, a launch that fails for good, a cancel, a timeout,
the reconcile pass) calls `end_run` inside the transaction that decided it. It sets the
status, fails the step that was running, skips the steps that never ran, schedules the
DO_NOT_STORE purge in the same transaction, writes the run and its evidence manifest
(shared/services/evidence.py), and registers on the
transaction what must happen once it has committed: the immediate purge and the cancel
of an execution still running. Nothing else calls `ValidationRun.finish`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.adapters.tasks import TaskQueue
from shared.domain.deadlines import CANCEL_RETRY
from shared.domain.enums import CloudRunJobStatus, ErrorCategory, RunStatus, StepStatus
from shared.domain.models import ValidationRun
from shared.domain.retention import retain_until
from shared.persistence.ports import UnitOfWork
from shared.platform.config import Settings
from shared.services.dispatch import enqueue_cancel
from shared.services.purge import queue_purge, schedule_purge

if TYPE_CHECKING:
    # Only the reconcile pass (the retry function) reaches Cloud Run Jobs, and loads it.
    from shared.adapters.jobs import JobRunner

log = logging.getLogger(__name__)

# What an unfinished step's job becomes when the run ends around it.
_JOB_STATUS_ON_END = {
    RunStatus.CANCELED: CloudRunJobStatus.CANCELLED,
    RunStatus.TIMED_OUT: CloudRunJobStatus.CANCELLED,
    RunStatus.FAILED: CloudRunJobStatus.FAILED,
}
_LIVE_JOB = (None, CloudRunJobStatus.PENDING, CloudRunJobStatus.RUNNING)


@dataclass(frozen=True)
class Ended:
    """A run that ended in a transaction, and what is left to do after the commit."""

    run: ValidationRun
    cancel_execution: str | None = None


@dataclass(frozen=True)
class FollowUp:
    """What the effects after an end need: the queue for the purge (and for a cancel
    when `jobs` is None) and the job runner of a function that has rights over jobs."""

    queue: TaskQueue
    settings: Settings
    jobs: JobRunner | None = None


def end_run(
    transaction: UnitOfWork,
    run: ValidationRun,
    status: RunStatus,
    now: datetime,
    follow_up: FollowUp,
    *,
    error_category: ErrorCategory | None = None,
    error: str | None = None,
) -> Ended:
    cancel = None
    for step in run.steps:
        if step.status is not StepStatus.RUNNING:
            continue
        if step.execution_name and step.job_status in _LIVE_JOB:
            cancel = step.execution_name
        step.move(StepStatus.FAILED)
        step.ended_at, step.claim_expires_at = now, None
        step.job_status = _JOB_STATUS_ON_END.get(status, step.job_status)
        step.error = step.error or error
    run.finish(status, now, error_category=error_category, error=error)
    run.output_expires_at = retain_until(run.output_retention, now)
    # An execution still to stop keeps the run in the reconcile pass's sight.
    run.reconcile_at = now + CANCEL_RETRY if cancel else None
    schedule_purge(transaction, run)
    transaction.save(run)
    # The evidence is created with the end it describes, or not at all; a second end
    # cannot happen (finish refuses a terminal run), so the first manifest stands.
    # Imported on use: a function that never ends a run does not load them.
    from shared.services import evidence

    transaction.record_evidence(evidence.build(run))
    ended = Ended(run, cancel)
    transaction.after_commit(
        lambda: after_commit(ended, follow_up.queue, follow_up.settings, follow_up.jobs)
    )
    return ended


def after_commit(
    ended: Ended | None, queue: TaskQueue, settings: Settings, jobs: JobRunner | None = None
) -> None:
    """Best effort: a lost purge task is healed by the PurgeRetry written with the end,
    a failed cancel by the reconcile pass (the run is terminal, the execution is not).
    Without a job runner (the api has no rights over jobs), the cancel is a task for
    the launch function."""
    if ended is None:
        return
    queue_purge(queue, settings, ended.run)
    from shared.services import webhooks

    webhooks.run_ended(settings, ended.run)
    if not ended.cancel_execution:
        return
    try:
        if jobs is not None:
            jobs.cancel(ended.cancel_execution)
        else:
            enqueue_cancel(queue, settings, ended.run.id, ended.cancel_execution)
    except Exception:
        log.warning(
            "could not cancel execution %s",
            ended.cancel_execution,
            exc_info=True,
            extra={"run_id": ended.run.id},
        )
