"""Flow 4, callback: persist a step's result exactly once, then move the run on.

Fencing: a CallbackReceipt keyed by `callback_id` is created in the same transaction
that finalizes the step, so a repeat (or a concurrent duplicate) sees it and is answered
as a replay. Findings are written before that transaction under deterministic ids, so a
delivery that dies half way and is retried overwrites rather than duplicates them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.api_core import exceptions as google_exceptions
from pydantic import ValidationError

from shared import logs
from shared.adapters.tasks import TaskQueue
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.domain.enums import CloudRunJobStatus, ErrorCategory, RunStatus, StepStatus
from shared.domain.models import (
    Artifact,
    CallbackReceipt,
    Finding,
    StepRun,
    Summary,
    ValidationRun,
)
from shared.envelopes import CallbackBody, OutputEnvelope, OutputStatus
from shared.errors import Conflict, NotFound, Transient, Unprocessable
from shared.ids import stable_id
from shared.persistence.repositories import Repositories, from_snapshot, to_doc
from shared.services.dispatch import enqueue_launch
from shared.services.finalize import finish_run
from shared.services.purge import queue_purge, schedule_purge
from shared.storage import BlobNotFound, BlobStore
from shared.storage.layout import Layout

log = logging.getLogger(__name__)


@dataclass
class CallbackOutcome:
    replay: bool
    run: ValidationRun | None


def _read_output(
    store: BlobStore, body: CallbackBody, run: ValidationRun, step: StepRun
) -> OutputEnvelope | str:
    """The validated output, or why it cannot be used (a validator defect)."""
    try:
        output = OutputEnvelope.model_validate_json(store.read_bytes(body.result_uri))
    except BlobNotFound:
        raise Unprocessable(f"there is no output at result_uri {body.result_uri!r}") from None
    except ValidationError as exc:
        return f"the validator wrote an invalid output.json: {exc.errors()[:3]}"
    expected = (run.id, run.org_id, step.order, step.attempt, body.callback_id)
    actual = (output.run_id, output.org_id, output.step_order, output.attempt, output.callback_id)
    if actual != expected:
        return f"output.json names {actual}, expected {expected}"
    return output


def _apply(run: ValidationRun, step: StepRun, output: OutputEnvelope | str, now: Any) -> None:
    at = now()
    step.ended_at, step.claim_expires_at = at, None
    if isinstance(output, str):
        step.move(StepStatus.FAILED)
        step.error, step.job_status = output, CloudRunJobStatus.FAILED
        finish_run(
            run,
            RunStatus.FAILED,
            at,
            error_category=ErrorCategory.VALIDATOR_ERROR,
            error=f"step {step.key!r}: {output}",
        )
        return
    step.summary = Summary.of([f.severity for f in output.findings])
    step.validator_version = output.validator.version
    run.summary = sum((s.summary for s in run.steps), Summary())
    if output.status is OutputStatus.CANCELLED:
        step.move(StepStatus.FAILED)
        step.error, step.job_status = "cancelled", CloudRunJobStatus.CANCELLED
        finish_run(
            run,
            RunStatus.CANCELED,
            at,
            error_category=ErrorCategory.CANCELED,
            error=f"step {step.key!r} was cancelled",
        )
    elif output.status is OutputStatus.FAILED_RUNTIME:
        step.move(StepStatus.FAILED)
        step.error, step.job_status = output.error or "validator failed", CloudRunJobStatus.FAILED
        finish_run(
            run,
            RunStatus.FAILED,
            at,
            error_category=ErrorCategory.VALIDATOR_ERROR,
            error=f"step {step.key!r} failed to run: {step.error}",
        )
    elif output.status is OutputStatus.FAILED_VALIDATION or step.summary.error_count:
        step.move(StepStatus.FAILED)
        step.job_status = CloudRunJobStatus.SUCCEEDED
        step.error = f"{step.summary.error_count} error(s) found"
        finish_run(
            run,
            RunStatus.FAILED,
            at,
            error_category=ErrorCategory.VALIDATION_FAILED,
            error=f"step {step.key!r} found {step.summary.error_count} error(s)",
        )
    else:
        step.move(StepStatus.PASSED)
        step.job_status = CloudRunJobStatus.SUCCEEDED
        if run.current_step() is None:
            finish_run(run, RunStatus.SUCCEEDED, at)


def _continue(queue: TaskQueue, settings: Settings, run: ValidationRun | None) -> None:
    """Queues the next step when the run is waiting on one. Safe to repeat: task names
    de-duplicate, so a replayed callback also heals a lost enqueue."""
    if run is None or run.status is not RunStatus.RUNNING:
        return
    nxt = run.current_step()
    if nxt is not None and nxt.status is StepStatus.PENDING:
        enqueue_launch(queue, settings, run.id, nxt.order, nxt.attempt + 1)


RECEIPT_LEASE = timedelta(seconds=60)


def _acquire(
    repos: Repositories, body: CallbackBody, run: ValidationRun, step: StepRun, now: Clock
) -> str | None:
    """Takes the receipt for this delivery: returns our owner token, None when the
    callback was already processed, or raises Transient while another delivery holds it."""
    at = now()
    owner = uuid.uuid4().hex
    receipt = CallbackReceipt(
        id=body.callback_id,
        org_id=run.org_id,
        run_id=run.id,
        step_order=step.order,
        attempt=step.attempt,
        status=body.status,
        result_uri=body.result_uri,
        received_at=at,
        owner=owner,
        lease_expires_at=at + RECEIPT_LEASE,
    )
    ref = repos.receipt_ref(body.callback_id)
    try:
        ref.create(to_doc(receipt))
        return owner
    except google_exceptions.Conflict:
        pass
    snap = ref.get()
    existing = from_snapshot(CallbackReceipt, snap)
    if existing.state == "DONE":
        return None
    busy = Transient(
        "an earlier delivery of this callback is being processed; retry shortly",
        headers={"Retry-After": "2"},
    )
    if existing.lease_expires_at and existing.lease_expires_at > at:
        raise busy
    # The delivery that held it died: take over, unless another repeat just did.
    try:
        ref.update(
            {"owner": owner, "lease_expires_at": at + RECEIPT_LEASE},
            option=repos.db.write_option(last_update_time=snap.update_time),
        )
    except (google_exceptions.FailedPrecondition, google_exceptions.Conflict):
        raise busy from None
    return owner


def _write_results(
    repos: Repositories, run: ValidationRun, step: StepRun, output: OutputEnvelope, now: Clock
) -> None:
    """Findings and artifacts under deterministic ids: a retried delivery overwrites."""
    created = now()
    repos.write_findings(
        run.id,
        (
            Finding(
                id=stable_id(run.id, step.order, step.attempt, index),
                org_id=run.org_id,
                run_id=run.id,
                step_order=step.order,
                step_key=step.key,
                attempt=step.attempt,
                index=index,
                created_at=created,
                **f.model_dump(),
            )
            for index, f in enumerate(output.findings)
        ),
    )
    if output.artifacts:
        repos.write_artifacts(
            run.id,
            [
                Artifact(
                    id=stable_id(run.id, step.order, step.attempt, "artifact", a.name),
                    org_id=run.org_id,
                    run_id=run.id,
                    step_order=step.order,
                    attempt=step.attempt,
                    created_at=created,
                    **a.model_dump(),
                )
                for a in output.artifacts
            ],
        )


def handle_callback(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    body: CallbackBody,
    now: Clock = utcnow,
) -> CallbackOutcome:
    known = repos.find_receipt(body.callback_id)
    if known is not None and known.state == "DONE":
        return _replay(repos, queue, settings, body)

    run = repos.find_run(body.run_id)
    if run is None:
        raise NotFound(f"run {body.run_id!r} does not exist")
    logs.bind(run_id=run.id, org_id=run.org_id)
    step = next((s for s in run.steps if s.callback_id == body.callback_id), None)
    if step is None or step.status is not StepStatus.RUNNING:
        raise Conflict(f"callback_id {body.callback_id!r} is not the running attempt of any step")
    layout = Layout(settings.storage_uri)
    folder = layout.attempt_prefix(run.org_id, run.id, step.order, step.attempt)
    if not layout.is_inside(body.result_uri, folder):
        raise Unprocessable(f"result_uri must be inside this attempt's folder {folder!r}")
    output = _read_output(store, body, run, step)

    owner = _acquire(repos, body, run, step, now)
    if owner is None:
        return _replay(repos, queue, settings, body)
    if not isinstance(output, str):
        _write_results(repos, run, step, output, now)

    def finalize(transaction: Any) -> CallbackOutcome:
        receipt = repos.find_receipt(body.callback_id, transaction=transaction)
        if receipt is None or receipt.state == "DONE" or receipt.owner != owner:
            return CallbackOutcome(replay=True, run=None)
        current = repos.find_run(body.run_id, transaction=transaction)
        if current is None:
            raise NotFound(f"run {body.run_id!r} does not exist")
        target = current.steps[step.order]
        if current.terminal or target.callback_id != body.callback_id:
            raise Conflict("the run moved on while this callback was processed")
        _apply(current, target, output, now)
        if current.terminal:
            schedule_purge(transaction, repos, current)
        transaction.update(
            repos.receipt_ref(body.callback_id), {"state": "DONE", "completed_at": now()}
        )
        transaction.set(repos.run_ref(current.id), to_doc(current))
        return CallbackOutcome(replay=False, run=current)

    outcome: CallbackOutcome = repos.transact(finalize)
    if outcome.replay:
        return _replay(repos, queue, settings, body)
    _continue(queue, settings, outcome.run)
    queue_purge(queue, settings, outcome.run)
    log.info("callback processed", extra={"run_id": run.id, "callback_id": body.callback_id})
    return outcome


def _replay(
    repos: Repositories, queue: TaskQueue, settings: Settings, body: CallbackBody
) -> CallbackOutcome:
    run = repos.find_run(body.run_id)
    _continue(queue, settings, run)
    log.info("callback replayed", extra={"run_id": body.run_id, "callback_id": body.callback_id})
    return CallbackOutcome(replay=True, run=run)
