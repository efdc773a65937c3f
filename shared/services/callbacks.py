"""Flow 4, callback: persist a step's result exactly once, then move the run on.

Fencing: a CallbackReceipt keyed by `callback_id` is created in the same transaction
that finalizes the step, so a repeat (or a concurrent duplicate) sees it and is answered
as a replay. Findings are written before that transaction under deterministic ids, so a
delivery that dies half way and is retried overwrites rather than duplicates them.

A step's result is taken only from its own validator's job identity (with the attempt's
`callback_id`), and only within the output caps (shared/services/step_outputs.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, overload

from shared.adapters.storage import BlobNotFound, BlobStore
from shared.adapters.storage.layout import Layout
from shared.adapters.tasks import TaskQueue
from shared.contract.envelopes import (
    MAX_TEXT_CHARS,
    CallbackBody,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
)
from shared.domain.assertions import StepView, evaluate
from shared.domain.deadlines import launch_overdue
from shared.domain.enums import (
    CloudRunJobStatus,
    ErrorCategory,
    Execution,
    ReceiptClaim,
    ReceiptState,
    RetentionPolicy,
    RunStatus,
    StepStatus,
)
from shared.domain.evidence import findings_sha256
from shared.domain.models import (
    Artifact,
    CallbackReceipt,
    EngineEvidence,
    Finding,
    StepRun,
    Summary,
    ValidationRun,
)
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform import logs
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import Conflict, Forbidden, NotFound, Transient, Unprocessable
from shared.platform.ids import stable_id
from shared.services.dispatch import enqueue_launch
from shared.services.finalize import Ended, FollowUp, end_run
from shared.services.step_outputs import Unread, parse, read_capped, too_large, within_caps

log = logging.getLogger(__name__)


@dataclass
class CallbackOutcome:
    replay: bool
    run: ValidationRun | None
    # The run had already ended: acknowledged, nothing written.
    late: bool = False


# What a step's output turns out to be: the output (its findings within their cap), one
# over the byte cap and never read, or why it cannot be used (a validator defect).
Received = OutputEnvelope | Unread | str


def _read_output(
    store: BlobStore, body: CallbackBody, run: ValidationRun, step: StepRun
) -> Received:
    """The validated output, read within the caps, or why it cannot be used."""
    return _read_with_digest(store, body, run, step)[0]


def _read_with_digest(
    store: BlobStore, body: CallbackBody, run: ValidationRun, step: StepRun
) -> tuple[Received, str | None]:
    """`_read_output`, and the sha256 of the bytes read (the step's evidence; None for
    an output never read)."""
    try:
        data = read_capped(store, body.result_uri)
    except BlobNotFound:
        raise Unprocessable(f"there is no output at result_uri {body.result_uri!r}") from None
    if data is None:
        return too_large(), None
    read = hashlib.sha256(data).hexdigest()
    output = parse(data)
    if isinstance(output, str):
        return output, read
    expected = (run.id, run.org_id, step.order, step.attempt, body.callback_id)
    actual = (output.run_id, output.org_id, output.step_order, output.attempt, output.callback_id)
    if actual != expected:
        return f"output.json names {actual}, expected {expected}", read
    return output, read


def _received(
    repos: Repositories,
    settings: Settings,
    store: BlobStore,
    body: CallbackBody,
    taken: tuple[ValidationRun, StepRun],
) -> tuple[Received, str | None]:
    """The step's output as it is kept (`_read_output`, `_redacted`), and the sha256 of
    the output.json it was read from."""
    run, step = taken
    output, read = _read_with_digest(store, body, run, step)
    if run.submission_retention is not RetentionPolicy.DO_NOT_STORE:
        return output, read
    submission = repos.submissions.find(run.submission_id)
    largest = submission.size_bytes if submission is not None else settings.max_object_bytes
    return _redacted(settings, run, step, output, largest + 1), read


def _redacted(
    settings: Settings, run: ValidationRun, step: StepRun, output: Received, bound: int
) -> Received:
    """A DO_NOT_STORE run's output rebuilt by the rule the job's parent applied
    (validators/redaction.py): output.json is only as trustworthy as whatever wrote it.
    The file is not at hand here, so its size bounds a line or column (`bound`). Why an
    output cannot be used is said without quoting it (its names may be the file's)."""
    if isinstance(output, Unread):
        return output
    from validators import redaction

    if isinstance(output, str):
        return redaction.error("runtime.malformed")
    layout = Layout(settings.storage_uri)
    scope = redaction.Scope(
        validator=step.validator,
        config=run.config[step.order].config,
        folder=layout.attempt_prefix(run.org_id, run.id, step.order, step.attempt).rstrip("/"),
        bound=bound,
    )
    return redaction.output(output, scope)


@dataclass(frozen=True)
class Ending:
    """How a step's result ends its run (None from `apply_output`: the run goes on)."""

    status: RunStatus
    category: ErrorCategory | None = None
    error: str | None = None


def _summarize(run: ValidationRun, step: StepRun, output: OutputEnvelope | Unread) -> None:
    """The step's counts by severity, listed findings and unlisted alike, and the run's."""
    if isinstance(output, Unread):
        step.summary = Summary.of([output.finding.severity])
    else:
        counts = output.unlisted_findings
        unlisted = Summary.unstored(counts.error, counts.warning, counts.info) if counts else None
        step.summary = Summary.of([f.severity for f in output.findings]) + (unlisted or Summary())
    run.summary = sum((s.summary for s in run.steps), Summary())


def apply_output(
    run: ValidationRun, step: StepRun, output: Received, at: Any, grace: float
) -> Ending | None:
    """Moves the step by its output; says whether and how the run ends."""
    _stamp_ended(run, step, at)
    if isinstance(output, str):
        ending = Ending(
            RunStatus.FAILED, ErrorCategory.VALIDATOR_ERROR, f"step {step.key!r}: {output}"
        )
        return _fail(step, output, CloudRunJobStatus.FAILED, ending)
    _summarize(run, step, output)
    step.findings_sha256 = findings_sha256([_stored_text(f) for f in _findings(output)])
    if isinstance(output, Unread):
        ending = Ending(
            RunStatus.FAILED,
            ErrorCategory.VALIDATOR_ERROR,
            f"step {step.key!r} failed to run: {output.error}",
        )
        return _fail(step, output.error, CloudRunJobStatus.FAILED, ending)
    _record_check(step, output)
    stopped = _stopped(step, output)
    if stopped is not None:
        return stopped
    return _judge(run, step, output, at, grace)


def _stamp_ended(run: ValidationRun, step: StepRun, at: Any) -> None:
    step.ended_at, step.claim_expires_at = at, None
    earlier = run.steps[step.order - 1] if step.order else None
    step.timings.queued_at = (
        earlier.timings.finalized_at or earlier.ended_at if earlier else run.created_at
    )
    step.timings.finalized_at = at


def _fail(step: StepRun, error: str, job_status: CloudRunJobStatus, ending: Ending) -> Ending:
    step.move(StepStatus.FAILED)
    step.error, step.job_status = error, job_status
    return ending


def _record_check(step: StepRun, output: OutputEnvelope) -> None:
    """What the validator reports of its own run: its timing, metrics, facts and version."""
    step.timings.check_started_at = output.timing.started_at
    step.timings.check_ended_at = output.timing.ended_at
    step.metrics = dict(output.metrics)
    step.facts = dict(output.facts)
    step.validator_version = output.validator.version
    engine = output.engine
    step.engine = EngineEvidence(name=engine.name, version=engine.version) if engine else None


def _stopped(step: StepRun, output: OutputEnvelope) -> Ending | None:
    """How the run ends when the validator did not finish its check (cancelled, timed
    out, or failed itself); None when it did."""
    key = step.key
    if output.status is OutputStatus.CANCELLED:
        ending = Ending(RunStatus.CANCELED, ErrorCategory.CANCELED, f"step {key!r} was cancelled")
        return _fail(step, "cancelled", CloudRunJobStatus.CANCELLED, ending)
    if output.status is OutputStatus.TIMED_OUT:
        error = output.error or "timed out"
        ending = Ending(RunStatus.TIMED_OUT, ErrorCategory.TIMEOUT, f"step {key!r}: {error}")
        return _fail(step, error, CloudRunJobStatus.FAILED, ending)
    if output.status is OutputStatus.FAILED_RUNTIME:
        error = output.error or "validator failed"
        message = f"step {key!r} failed to run: {error}"
        ending = Ending(RunStatus.FAILED, ErrorCategory.VALIDATOR_ERROR, message)
        return _fail(step, error, CloudRunJobStatus.FAILED, ending)
    return None


def _judge(
    run: ValidationRun, step: StepRun, output: OutputEnvelope, at: Any, grace: float
) -> Ending | None:
    """The check ran: the step passes or fails by its findings, and the run ends
    (failed, or succeeded after its last step) or goes on to the next step."""
    step.job_status = CloudRunJobStatus.SUCCEEDED
    if output.status is OutputStatus.FAILED_VALIDATION or step.summary.error_count:
        step.move(StepStatus.FAILED)
        step.error = f"{step.summary.error_count} error(s) found"
        return Ending(
            RunStatus.FAILED,
            ErrorCategory.VALIDATION_FAILED,
            f"step {step.key!r} found {step.summary.error_count} error(s)",
        )
    step.move(StepStatus.PASSED)
    if run.current_step() is None:
        return Ending(RunStatus.SUCCEEDED)
    run.reconcile_at = launch_overdue(at, grace)  # the next step's launch is queued now
    return None


def commit_output(
    transaction: UnitOfWork,
    run: ValidationRun,
    ending: Ending | None,
    at: datetime,
    follow_up: FollowUp,
) -> Ended | None:
    """After `apply_output`, in its transaction: the run written as it goes on, or ended."""
    if ending is None:
        transaction.save(run)
        return None
    return end_run(
        transaction,
        run,
        ending.status,
        at,
        follow_up,
        error_category=ending.category,
        error=ending.error,
    )


def _continue(queue: TaskQueue, settings: Settings, run: ValidationRun | None) -> None:
    """Queues the next step when the run is waiting on one. Safe to repeat: task names
    de-duplicate, so a replayed callback also heals a lost enqueue."""
    if run is None or run.status is not RunStatus.RUNNING:
        return
    nxt = run.current_step()
    if nxt is not None and nxt.status is StepStatus.PENDING:
        enqueue_launch(queue, settings, run.id, nxt.order, nxt.attempt + 1)


RECEIPT_LEASE = timedelta(seconds=60)


def _receipt(
    body: CallbackBody,
    run: ValidationRun,
    step: StepRun,
    at: Any,
    owner: str,
    settings: Settings,
) -> CallbackReceipt:
    """A receipt, expiring as bookkeeping does (Firestore's TTL on `expire_at`)."""
    return CallbackReceipt(
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
        expire_at=at + timedelta(days=settings.callback_receipt_days),
    )


def _acquire(
    repos: Repositories,
    settings: Settings,
    body: CallbackBody,
    run: ValidationRun,
    step: StepRun,
    now: Clock,
) -> str | None:
    """Takes the receipt for this delivery: returns our owner token, None when the
    callback was already processed, or raises Transient while another delivery holds it."""
    at = now()
    owner = uuid.uuid4().hex
    claim = repos.receipts.claim(_receipt(body, run, step, at, owner, settings))
    if claim is ReceiptClaim.PROCESSED:
        return None
    if claim is ReceiptClaim.BUSY:
        raise Transient(
            "an earlier delivery of this callback is being processed; retry shortly",
            headers={"Retry-After": "2"},
        )
    return owner


def _attempt_key(step: StepRun) -> int | str:
    # The fast path's results never share ids with a job attempt's: when a launch takes a
    # step over from a stalled inline run, withdrawing one cannot delete the other's.
    return "inline" if step.execution is Execution.INLINE else step.attempt


def _findings(output: OutputEnvelope | Unread) -> list[OutputFinding]:
    return output.findings if isinstance(output, OutputEnvelope) else [output.finding]


def _finding_ids(run: ValidationRun, step: StepRun, output: OutputEnvelope | Unread) -> list[str]:
    key = _attempt_key(step)
    return [stable_id(run.id, step.order, key, i) for i in range(len(_findings(output)))]


def _artifact_ids(run: ValidationRun, step: StepRun, output: OutputEnvelope | Unread) -> list[str]:
    if isinstance(output, Unread):
        return []
    key = _attempt_key(step)
    return [stable_id(run.id, step.order, key, "artifact", a.name) for a in output.artifacts]


def _stored_text(finding: OutputFinding) -> dict[str, Any]:
    """A finding's fields, its text cut to MAX_TEXT_CHARS: a document holds 1 MiB."""
    fields = finding.model_dump()
    for name in ("code", "message", "path", "rule"):
        text = fields[name]
        if text is not None and len(text) > MAX_TEXT_CHARS:
            fields[name] = text[: MAX_TEXT_CHARS - 1] + "…"
    return fields


def write_results(
    repos: Repositories,
    run: ValidationRun,
    step: StepRun,
    output: OutputEnvelope | Unread,
    now: Clock,
) -> None:
    """Findings and artifacts under deterministic ids: a retried delivery overwrites."""
    created = now()
    ids = _finding_ids(run, step, output)
    repos.findings.write(
        run.id,
        (
            Finding(
                id=ids[index],
                org_id=run.org_id,
                run_id=run.id,
                step_order=step.order,
                step_key=step.key,
                attempt=step.attempt,
                index=index,
                created_at=created,
                **_stored_text(f),
            )
            for index, f in enumerate(_findings(output))
        ),
    )
    if isinstance(output, OutputEnvelope) and output.artifacts:
        repos.findings.write_artifacts(
            run.id,
            [
                Artifact(
                    id=artifact_id,
                    org_id=run.org_id,
                    run_id=run.id,
                    step_order=step.order,
                    attempt=step.attempt,
                    created_at=created,
                    **a.model_dump(),
                )
                for artifact_id, a in zip(
                    _artifact_ids(run, step, output), output.artifacts, strict=True
                )
            ],
        )


def withdraw_results(
    repos: Repositories, run: ValidationRun, step: StepRun, output: Received
) -> None:
    """Removes what a delivery of a callback that lost the race to the run's end wrote."""
    if isinstance(output, str):
        return
    repos.findings.delete(run.id, _finding_ids(run, step, output))
    repos.findings.delete_artifacts(run.id, _artifact_ids(run, step, output))


def _refuse_late(
    repos: Repositories,
    settings: Settings,
    store: BlobStore,
    body: CallbackBody,
    run: ValidationRun,
    step: StepRun | None,
) -> CallbackOutcome:
    """A callback for a run that has ended: acknowledged, and nothing of it kept. A
    delivery that raced the run's end may have written results before it lost; they go."""
    if step is not None:
        # Without an output nothing can have been written from it. What was written is
        # the output as kept (its notes and assertions' findings too).
        with contextlib.suppress(Unprocessable):
            received, _ = _received(repos, settings, store, body, (run, step))
            kept = with_assertions(received, run, step)
            withdraw_results(repos, run, step, kept)
        repos.receipts.close(body.callback_id, ReceiptState.REFUSED)
    log.info(
        "callback for a %s run ignored",
        run.status,
        extra={"run_id": run.id, "callback_id": body.callback_id},
    )
    return CallbackOutcome(replay=False, run=run, late=True)


def _locate(repos: Repositories, body: CallbackBody) -> tuple[ValidationRun, StepRun | None]:
    run = repos.runs.find(body.run_id)
    if run is None:
        raise NotFound(f"run {body.run_id!r} does not exist")
    logs.bind(run_id=run.id, org_id=run.org_id)
    step = next((s for s in run.steps if s.callback_id == body.callback_id), None)
    return run, step


@overload
def with_assertions(
    output: OutputEnvelope, run: ValidationRun, step: StepRun
) -> OutputEnvelope: ...


@overload
def with_assertions(output: Received, run: ValidationRun, step: StepRun) -> Received: ...


def with_assertions(output: Received, run: ValidationRun, step: StepRun) -> Received:
    """The output as the step keeps it: within the output caps (the fast path's too), and
    with the step's assertions, evaluated on its metrics, joining its findings. The same
    for every delivery, so a retry writes the same documents."""
    if not isinstance(output, OutputEnvelope):
        return output
    output = within_caps(output)
    failed = evaluate(
        run.config[step.order].assertions, output.metrics, output.facts, earlier_steps(run, step)
    )
    if not failed:
        return output
    extra = [OutputFinding.model_validate(f) for f in failed]
    return output.model_copy(update={"findings": [*output.findings, *extra]})


def earlier_steps(run: ValidationRun, step: StepRun) -> list[StepView]:
    """What `step`'s assertions see of the run's steps before it."""
    return [
        StepView(key=s.key, result=s.status.value, metrics=s.metrics, model=s.facts)
        for s in run.steps[: step.order]
    ]


def _check_fence(
    settings: Settings, body: CallbackBody, run: ValidationRun, step: StepRun | None
) -> StepRun:
    if step is None or step.status is not StepStatus.RUNNING:
        raise Conflict(f"callback_id {body.callback_id!r} is not the running attempt of any step")
    layout = Layout(settings.storage_uri)
    folder = layout.attempt_prefix(run.org_id, run.id, step.order, step.attempt)
    if not layout.is_inside(body.result_uri, folder):
        raise Unprocessable(f"result_uri must be inside this attempt's folder {folder!r}")
    return step


def _check_identity(settings: Settings, caller: str | None, step: StepRun) -> None:
    """A step's result comes only from its own validator's job: any validator job may
    call the callback (its allow-list), but not for another validator's step."""
    if caller is None:
        return  # the reconcile pass, which found the output itself: no delivery
    expected = settings.validator_identities.get(step.validator)
    if expected is None:
        raise Forbidden(
            f"no job identity is configured for validator {step.validator!r} "
            "(ASSAY_VALIDATOR_IDENTITIES), so no caller may deliver its results"
        )
    if caller != expected:
        raise Forbidden(
            f"{caller!r} is not the {step.validator!r} validator's job: step {step.key!r} "
            f"takes its result only from {expected!r}"
        )


def handle_callback(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    body: CallbackBody,
    now: Clock = utcnow,
    *,
    caller: str | None = None,
) -> CallbackOutcome:
    """One delivery of a step's result. `caller` is the verified email of the job that
    sent it; None only for the reconcile pass, which read the output itself."""
    known = repos.receipts.find(body.callback_id)
    if known is not None and known.state is not ReceiptState.PROCESSING:
        # Answered from the receipt's own run, whatever run_id this body names.
        return _replay_receipt(repos, queue, settings, known, caller)
    run, found = _locate(repos, body)
    if found is not None:
        _check_identity(settings, caller, found)
    if run.terminal:
        # Read after the run: had this callback ended it, its receipt says DONE by now
        # (the same transaction), and a concurrent duplicate is a replay, not late.
        again = repos.receipts.find(body.callback_id)
        if again is not None and again.state is ReceiptState.DONE:
            return _replay_receipt(repos, queue, settings, again, caller)
        return _refuse_late(repos, settings, store, body, run, found)
    step = _check_fence(settings, body, run, found)
    received, read = _received(repos, settings, store, body, (run, step))
    output = with_assertions(received, run, step)
    owner = _acquire(repos, settings, body, run, step, now)
    if owner is None:
        return _replay(repos, queue, settings, run.id)
    if not isinstance(output, str):
        write_results(repos, run, step, output, now)
    taken = (run, step, output, owner)
    return record_step_result(repos, store, queue, settings, body, taken, now, output_sha256=read)


def record_step_result(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    body: CallbackBody,
    taken: tuple[ValidationRun, StepRun, Received, str],
    now: Clock = utcnow,
    *,
    output_sha256: str | None = None,
) -> CallbackOutcome:
    """The step's result, once: in one transaction, under the receipt this delivery holds.
    `output_sha256`: of the output.json it was read from (the step's evidence)."""
    run, step, output, owner = taken

    def finalize(transaction: UnitOfWork) -> CallbackOutcome:
        receipt = transaction.receipt(body.callback_id)
        if receipt is None or receipt.state is not ReceiptState.PROCESSING:
            return CallbackOutcome(replay=True, run=None)
        if receipt.owner != owner:
            return CallbackOutcome(replay=True, run=None)
        current = transaction.run(run.id)
        if current is None:
            raise NotFound(f"run {run.id!r} does not exist")
        target = current.steps[step.order]
        if current.terminal or target.callback_id != body.callback_id:
            return CallbackOutcome(replay=False, run=current, late=True)
        at = now()
        target.timings.called_back_at = receipt.received_at
        target.output_sha256 = output_sha256
        ending = apply_output(current, target, output, at, settings.launch_grace_seconds)
        transaction.close_receipt(body.callback_id, at)
        commit_output(transaction, current, ending, at, FollowUp(queue, settings))
        return CallbackOutcome(replay=False, run=current)

    outcome = repos.transact(finalize)
    if outcome.replay:
        return _replay(repos, queue, settings, run.id)
    if outcome.late:
        return _refuse_late(repos, settings, store, body, outcome.run or run, step)
    _continue(queue, settings, outcome.run)
    log.info("callback processed", extra={"run_id": run.id, "callback_id": body.callback_id})
    return outcome


def _replay(
    repos: Repositories, queue: TaskQueue, settings: Settings, run_id: str
) -> CallbackOutcome:
    run = repos.runs.find(run_id)
    _continue(queue, settings, run)
    log.info("callback replayed", extra={"run_id": run_id})
    return CallbackOutcome(replay=True, run=run)


def _replay_receipt(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    receipt: CallbackReceipt,
    caller: str | None,
) -> CallbackOutcome:
    """A repeat of a processed callback, answered from its receipt's run: only to the
    job that may deliver that step's result."""
    run = repos.runs.find(receipt.run_id)
    if run is not None:
        _check_identity(settings, caller, run.steps[receipt.step_order])
    _continue(queue, settings, run)
    log.info("callback replayed", extra={"run_id": receipt.run_id})
    return CallbackOutcome(replay=True, run=run)
