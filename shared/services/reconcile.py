"""The reconcile pass: finds runs whose next event is overdue and heals them.

Each trigger is at-least-once and each message can still be lost for good (a task that
exhausts its retries, a callback that never arrives, a function that dies between two
writes). Every unfinished run carries `reconcile_at` (shared/domain/deadlines.py); the
`retry` function calls `reconcile` every 5 minutes and this module looks at each overdue
run once per pass:

- PENDING, or RUNNING with the next step waiting: its launch task is queued again;
- a claim past its lease with no execution: the execution the launch started is found
  by its INPUT_URI and recorded (duplicates cancelled), or the launch is queued again;
- a step past its deadline: its execution decides. An output.json present is processed
  exactly as its callback would be; a failed execution without one ends the run FAILED;
  an execution still running is cancelled and the run ends TIMED_OUT;
- an ended run whose execution could not be cancelled: cancelled now.

Every change is a transaction fenced on the step's callback_id, so a pass racing a late
callback, a launch or another pass changes nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.adapters.jobs import Execution, JobRunner
from shared.adapters.storage import BlobNotFound, BlobStore
from shared.adapters.storage.layout import Layout
from shared.adapters.tasks import TaskQueue
from shared.contract.envelopes import CallbackBody, OutputEnvelope
from shared.contract.validator_jobs import validator_job
from shared.domain.deadlines import launch_overdue, step_overdue
from shared.domain.enums import CloudRunJobStatus, ErrorCategory, RunStatus, StepStatus
from shared.domain.models import StepRun, ValidationRun
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform.clock import Clock
from shared.platform.config import Settings
from shared.platform.errors import Conflict, NotFound
from shared.platform.ids import stable_id
from shared.services.callbacks import handle_callback
from shared.services.dispatch import enqueue_launch
from shared.services.finalize import Ended, FollowUp, end_run
from shared.services.launches import record_execution
from shared.services.step_outputs import read_capped

log = logging.getLogger(__name__)

_LIVE = (CloudRunJobStatus.PENDING, CloudRunJobStatus.RUNNING)


class Healed(StrEnum):
    """What one look at one overdue run did."""

    RELAUNCHED = "relaunched"
    EXECUTION_RECORDED = "execution_recorded"
    DUPLICATE_CANCELLED = "duplicate_cancelled"
    CALLBACK_RECOVERED = "callback_recovered"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LEFTOVER_CANCELLED = "leftover_cancelled"
    NOT_DUE = "not_due"
    NOTHING = "nothing"


@dataclass
class ReconcileReport:
    looked_at: int = 0
    healed: Counter[str] = field(default_factory=Counter)
    stopped_early: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "looked_at": self.looked_at,
            "healed": dict(self.healed),
            "stopped_early": self.stopped_early,
            "errors": self.errors,
        }


@dataclass
class Context:
    repos: Repositories
    store: BlobStore
    queue: TaskQueue
    jobs: JobRunner
    settings: Settings
    now: Clock


def reconcile(
    ctx: Context, *, batch_size: int = 50, deadline_seconds: float = 240
) -> ReconcileReport:
    """One bounded pass: at most `batch_size` runs, no new run after `deadline_seconds`."""
    report = ReconcileReport()
    started = time.monotonic()
    for run in ctx.repos.runs.to_reconcile(ctx.now(), batch_size):
        if time.monotonic() - started > deadline_seconds:
            report.stopped_early = True
            break
        report.looked_at += 1
        try:
            outcomes = heal(ctx, run)
        except Exception as exc:
            log.exception("reconcile could not heal run", extra={"run_id": run.id})
            # The type alone: an exception's text may quote a run's content.
            report.errors.append(f"{run.id}: {type(exc).__name__}")
            continue
        for outcome in outcomes:
            report.healed[outcome.value] += 1
            if outcome not in (Healed.NOTHING, Healed.NOT_DUE):
                log.info("reconcile healed run: %s", outcome.value, extra={"run_id": run.id})
    return report


def heal(ctx: Context, run: ValidationRun) -> list[Healed]:
    if run.terminal:
        return [_cancel_leftovers(ctx, run)]
    step = run.current_step()
    if step is None:
        return [Healed.NOTHING]
    if step.status is StepStatus.PENDING:
        return [_relaunch(ctx, run, step)]
    if not step.execution_name:
        return _claimed_without_execution(ctx, run, step)
    return [_overdue_execution(ctx, run, step)]


# -- launches ----------------------------------------------------------------------------


def _bump(ctx: Context, run: ValidationRun, step: StepRun, until: Any) -> bool:
    """Moves the run's reconcile_at, if the step is still where this pass saw it."""

    def bump(transaction: UnitOfWork) -> bool:
        current = transaction.run(run.id)
        if current is None or current.terminal:
            return False
        now_step = current.steps[step.order]
        if (now_step.status, now_step.callback_id) != (step.status, step.callback_id):
            return False
        current.reconcile_at = until
        transaction.save(current)
        return True

    moved: bool = ctx.repos.transact(bump)
    return moved


def _relaunch(ctx: Context, run: ValidationRun, step: StepRun) -> Healed:
    """Queues the step's launch again. The task gets a name of its own: Cloud Tasks
    refuses a name used in the last hour even when that task is gone, and the launch's
    claim makes a duplicate harmless."""
    if not _bump(ctx, run, step, launch_overdue(ctx.now(), ctx.settings.launch_grace_seconds)):
        return Healed.NOTHING
    attempt = step.attempt + 1
    stamp = (run.reconcile_at or ctx.now()).isoformat()
    suffix = "-" + stable_id(stamp)[:8]
    enqueue_launch(ctx.queue, ctx.settings, run.id, step.order, attempt, name_suffix=suffix)
    return Healed.RELAUNCHED


def _input_uri(ctx: Context, run: ValidationRun, step: StepRun) -> str:
    layout = Layout(ctx.settings.storage_uri)
    return layout.input_envelope(run.org_id, run.id, step.order, step.attempt)


def _claimed_without_execution(ctx: Context, run: ValidationRun, step: StepRun) -> list[Healed]:
    if step.claim_expires_at and step.claim_expires_at > ctx.now():
        return [Healed.NOT_DUE]  # the launch may still be starting its job
    job = validator_job(step.validator).job_name(ctx.settings.job_prefix)
    found = ctx.jobs.find(job, _input_uri(ctx, run, step))
    if not found:
        return [_relaunch(ctx, run, step)]
    keep, *duplicates = found
    outcomes = [_record(ctx, run, step, keep)]
    for extra in duplicates:
        ctx.jobs.cancel(extra.name)
        outcomes.append(Healed.DUPLICATE_CANCELLED)
    return outcomes


def _record(ctx: Context, run: ValidationRun, step: StepRun, execution: Execution) -> Healed:
    def record(transaction: UnitOfWork) -> bool:
        current = transaction.run(run.id)
        if current is None or current.terminal:
            return False
        target = current.steps[step.order]
        if target.callback_id != step.callback_id or target.execution_name:
            return False
        record_execution(current, target, execution)
        transaction.save(current)
        return True

    recorded: bool = ctx.repos.transact(record)
    return Healed.EXECUTION_RECORDED if recorded else Healed.NOTHING


# -- overdue executions ------------------------------------------------------------------


def _overdue_execution(ctx: Context, run: ValidationRun, step: StepRun) -> Healed:
    deadline = step_overdue(
        step.started_at or run.created_at, run.config[step.order].timeout_seconds
    )
    if deadline > ctx.now():
        _bump(ctx, run, step, deadline)
        return Healed.NOT_DUE
    execution = ctx.jobs.get(step.execution_name or "")
    if execution.status in _LIVE:
        ended = _end(
            ctx,
            run,
            step,
            RunStatus.TIMED_OUT,
            ErrorCategory.TIMEOUT,
            f"step {step.key!r} ran past its timeout of "
            f"{run.config[step.order].timeout_seconds}s and was stopped",
        )
        return Healed.TIMED_OUT if ended else Healed.NOTHING
    if _recover_callback(ctx, run, step):
        return Healed.CALLBACK_RECOVERED
    ended = _end(
        ctx,
        run,
        step,
        RunStatus.FAILED,
        ErrorCategory.VALIDATOR_ERROR,
        f"step {step.key!r}: the validator job's execution {execution.name} ended "
        f"{execution.status.value} without reporting a result"
        + (f": {execution.error}" if execution.error else ""),
    )
    return Healed.FAILED if ended else Healed.NOTHING


def _recover_callback(ctx: Context, run: ValidationRun, step: StepRun) -> bool:
    """An output.json the job wrote is its result, whether or not the callback came:
    processed through the callback path itself (receipt, findings once, the run moved)."""
    layout = Layout(ctx.settings.storage_uri)
    uri = layout.output_envelope(run.org_id, run.id, step.order, step.attempt)
    try:
        data = read_capped(ctx.store, uri)
    except BlobNotFound:
        return False
    try:
        # Over the cap, or unreadable: the callback path reports it as the validator's error.
        output = OutputEnvelope.model_validate_json(data) if data is not None else None
    except ValueError:
        output = None
    body = CallbackBody(
        run_id=run.id,
        callback_id=step.callback_id or "",
        status=output.status if output else "failed_runtime",
        result_uri=uri,
    )
    try:
        handle_callback(ctx.repos, ctx.store, ctx.queue, ctx.settings, body, ctx.now)
    except (Conflict, NotFound):
        return False  # the run moved on meanwhile: nothing to recover
    return True


def _end(
    ctx: Context,
    run: ValidationRun,
    step: StepRun,
    status: RunStatus,
    category: ErrorCategory,
    error: str,
) -> Ended | None:
    def end(transaction: UnitOfWork) -> Ended | None:
        current = transaction.run(run.id)
        if current is None or current.terminal:
            return None
        if current.steps[step.order].callback_id != step.callback_id:
            return None
        follow_up = FollowUp(ctx.queue, ctx.settings, ctx.jobs)
        return end_run(
            transaction,
            current,
            status,
            ctx.now(),
            follow_up,
            error_category=category,
            error=error,
        )

    ended: Ended | None = ctx.repos.transact(end)
    return ended


def _cancel_leftovers(ctx: Context, run: ValidationRun) -> Healed:
    cancelled = False
    for step in run.steps:
        if step.execution_name and ctx.jobs.get(step.execution_name).status in _LIVE:
            ctx.jobs.cancel(step.execution_name)
            cancelled = True

    def clear(transaction: UnitOfWork) -> None:
        current = transaction.run(run.id)
        if current is not None and current.terminal and current.reconcile_at is not None:
            transaction.clear_reconcile(run.id)

    ctx.repos.transact(clear)
    return Healed.LEFTOVER_CANCELLED if cancelled else Healed.NOTHING
