"""Flow 4, callback: persist a step's result exactly once, then move the run on.

Fencing: a CallbackReceipt keyed by `callback_id` is created in the same transaction
that finalizes the step, so a repeat (or a concurrent duplicate) sees it and is answered
as a replay. Findings are written before that transaction under deterministic ids, so a
delivery that dies half way and is retried overwrites rather than duplicates them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.cloud import firestore
from pydantic import ValidationError

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
from shared.errors import Conflict, NotFound, Unprocessable
from shared.ids import stable_id
from shared.persistence.repositories import Repositories, to_doc
from shared.services.dispatch import enqueue_launch
from shared.services.finalize import finish_run
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
        finish_run(run, RunStatus.FAILED, at, error_category=ErrorCategory.VALIDATOR_ERROR,
                   error=f"step {step.key!r}: {output}")
        return
    step.summary = Summary.of([f.severity for f in output.findings])
    step.validator_version = output.validator.version
    run.summary = sum((s.summary for s in run.steps), Summary())
    if output.status is OutputStatus.CANCELLED:
        step.move(StepStatus.FAILED)
        step.error, step.job_status = "cancelled", CloudRunJobStatus.CANCELLED
        finish_run(run, RunStatus.CANCELED, at, error_category=ErrorCategory.CANCELED,
                   error=f"step {step.key!r} was cancelled")
    elif output.status is OutputStatus.FAILED_RUNTIME:
        step.move(StepStatus.FAILED)
        step.error, step.job_status = output.error or "validator failed", CloudRunJobStatus.FAILED
        finish_run(run, RunStatus.FAILED, at, error_category=ErrorCategory.VALIDATOR_ERROR,
                   error=f"step {step.key!r} failed to run: {step.error}")
    elif output.status is OutputStatus.FAILED_VALIDATION or step.summary.error_count:
        step.move(StepStatus.FAILED)
        step.job_status = CloudRunJobStatus.SUCCEEDED
        step.error = f"{step.summary.error_count} error(s) found"
        finish_run(run, RunStatus.FAILED, at, error_category=ErrorCategory.VALIDATION_FAILED,
                   error=f"step {step.key!r} found {step.summary.error_count} error(s)")
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


def handle_callback(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    body: CallbackBody,
    now: Clock = utcnow,
) -> CallbackOutcome:
    if repos.find_receipt(body.callback_id) is not None:
        run = repos.find_run(body.run_id)
        _continue(queue, settings, run)
        return CallbackOutcome(replay=True, run=run)

    run = repos.find_run(body.run_id)
    if run is None:
        raise NotFound(f"run {body.run_id!r} does not exist")
    step = next((s for s in run.steps if s.callback_id == body.callback_id), None)
    if step is None or step.status is not StepStatus.RUNNING:
        raise Conflict(f"callback_id {body.callback_id!r} is not the running attempt of any step")
    layout = Layout(settings.storage_uri)
    folder = layout.attempt_prefix(run.org_id, run.id, step.order, step.attempt)
    if not layout.is_inside(body.result_uri, folder):
        raise Unprocessable(f"result_uri must be inside this attempt's folder {folder!r}")

    output = _read_output(store, body, run, step)
    if not isinstance(output, str):
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

    @firestore.transactional  # type: ignore[untyped-decorator]
    def finalize(transaction: Any) -> CallbackOutcome:
        if repos.find_receipt(body.callback_id, transaction=transaction) is not None:
            return CallbackOutcome(replay=True, run=None)
        current = repos.find_run(body.run_id, transaction=transaction)
        if current is None:
            raise NotFound(f"run {body.run_id!r} does not exist")
        target = current.steps[step.order]
        if current.terminal or target.callback_id != body.callback_id:
            raise Conflict("the run moved on while this callback was processed")
        _apply(current, target, output, now)
        receipt = CallbackReceipt(
            id=body.callback_id,
            org_id=current.org_id,
            run_id=current.id,
            step_order=target.order,
            attempt=target.attempt,
            status=body.status,
            result_uri=body.result_uri,
            received_at=now(),
        )
        transaction.create(repos.receipt_ref(body.callback_id), to_doc(receipt))
        transaction.set(repos.run_ref(current.id), to_doc(current))
        return CallbackOutcome(replay=False, run=current)

    try:
        outcome: CallbackOutcome = finalize(repos.db.transaction())
    except google_exceptions.Conflict:
        outcome = CallbackOutcome(replay=True, run=None)
    if outcome.replay:
        outcome.run = repos.find_run(body.run_id)
    _continue(queue, settings, outcome.run)
    log.info(
        "callback %s", "replayed" if outcome.replay else "processed", extra={"run_id": run.id}
    )
    return outcome
