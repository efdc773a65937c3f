"""Flow 2, launch: claim the step attempt, build the execution bundle, start the job.

Duplicates are expected (Cloud Tasks is at-least-once): a claim is taken in a
transaction, a launch that already started answers 2xx and does nothing, and a claim
held by a launch still in flight makes the duplicate wait (409, retried by the queue)
until the claim either records an execution or expires.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from google.auth.credentials import Signing

from shared.adapters.jobs import Execution, JobRunner, PermanentJobError
from shared.adapters.signing import signed_get_url, signed_put_url
from shared.adapters.storage import BlobExists, BlobNotFound, BlobStore
from shared.adapters.storage.layout import Layout
from shared.adapters.storage.signed import put_headers
from shared.adapters.tasks import TaskQueue
from shared.contract.envelopes import InputEnvelope, InputFile, ValidatorRef
from shared.contract.validator_jobs import validator_job
from shared.domain.deadlines import launch_overdue, step_overdue
from shared.domain.enums import ErrorCategory, RetentionPolicy, RunStatus, StepStatus
from shared.domain.models import ResourcePin, StepRun, Submission, ValidationRun
from shared.domain.task_bodies import CancelTask, LaunchTask
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform import logs
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import Conflict, Transient
from shared.services.finalize import FollowUp, end_run

log = logging.getLogger(__name__)

# A job's URLs outlive its step's timeout by this much (it may start late and writes
# its output last), and a V4 signature by at most a week.
URL_GRACE = timedelta(minutes=15)
MAX_URL_LIFETIME = timedelta(days=7)


@dataclass
class LaunchOutcome:
    outcome: str
    run_id: str
    execution_name: str | None = None


@dataclass
class _Claim:
    run: ValidationRun
    step: StepRun


def _claim(repos: Repositories, settings: Settings, task: LaunchTask, now: Clock) -> _Claim | str:
    def claim(transaction: UnitOfWork) -> _Claim | str:
        run = transaction.run(task.run_id)
        if run is None:
            return "run does not exist"
        if run.terminal:
            return f"run already {run.status}"
        if not 0 <= task.step_order < len(run.steps):
            return f"run has no step {task.step_order}"
        if any(s.status is not StepStatus.PASSED for s in run.steps[: task.step_order]):
            return "an earlier step has not passed"
        step = run.steps[task.step_order]
        at = now()
        if step.status is StepStatus.RUNNING:
            if step.execution_name:
                return "already launched"
            if step.claim_expires_at and step.claim_expires_at > at:
                raise Conflict(
                    "another launch of this step is in progress",
                    headers={"Retry-After": "5"},
                )
            # The launch that held the claim died before starting a job: take over
            # under a new attempt, so its leftovers cannot mix with ours.
        elif step.status is not StepStatus.PENDING:
            return f"step already {step.status}"
        else:
            step.move(StepStatus.RUNNING)
        step.attempt += 1
        step.callback_id = uuid.uuid4().hex
        step.claim_expires_at = at + timedelta(seconds=settings.launch_claim_seconds)
        run.reconcile_at = step.claim_expires_at
        step.started_at = at
        step.error = None
        run.start(at)
        transaction.save(run)
        return _Claim(run, step)

    result: _Claim | str = repos.transact(claim)
    return result


def record_execution(run: ValidationRun, step: StepRun, execution: Execution) -> None:
    """The step's job is running: the reconcile pass looks again once it is overdue.
    The image Cloud Run reports for it is the step's evidence."""
    step.execution_name, step.job_status, step.claim_expires_at = (
        execution.name,
        execution.status,
        None,
    )
    step.image = execution.image
    begun = step.started_at or run.created_at
    run.reconcile_at = step_overdue(begun, run.config[step.order].timeout_seconds)


def _update_claimed(
    repos: Repositories,
    run_id: str,
    order: int,
    callback_id: str,
    change: Callable[[ValidationRun, StepRun], None],
    now: Clock,
) -> ValidationRun | None:
    """Applies `change(run, step)` only while our claim is still the step's claim."""

    def update(transaction: UnitOfWork) -> ValidationRun | None:
        run = transaction.run(run_id)
        if run is None or run.terminal or run.steps[order].callback_id != callback_id:
            return None
        change(run, run.steps[order])
        transaction.save(run)
        return run

    result: ValidationRun | None = repos.transact(update)
    return result


def _copy_into_bundle(
    store: BlobStore, layout: Layout, run: ValidationRun, submission: Submission | None
) -> str | None:
    """Copies the submission into the run's bundle, so the job never reads content a
    purge may delete under it (a run keeps its own copy until its bundle is purged).
    None when the content is gone."""
    if submission is None or submission.content_purged_at is not None:
        return None
    target = layout.bundle_file(run.org_id, run.id, submission.original_filename)
    until = submission.retained_until
    try:
        if submission.input_file:
            store.copy(submission.input_file, target, create_only=True, retain_until=until)
        else:
            data = (submission.content or "").encode("utf-8")
            store.write_bytes(
                target, data, submission.content_type, create_only=True, retain_until=until
            )
    except BlobExists:
        pass  # an earlier step of this run copied the same bytes (the job checks sha256)
    except BlobNotFound:
        return None
    return target


def resource_file(name: str, pin: ResourcePin, uri: str) -> InputFile:
    """A pinned workflow resource as a step's input names it, read from `uri`."""
    return InputFile(
        name=name,
        uri=uri,
        sha256=pin.sha256,
        size_bytes=pin.size_bytes,
        content_type=pin.content_type,
    )


def _copy_resources(
    store: BlobStore, layout: Layout, run: ValidationRun, step: StepRun
) -> list[InputFile]:
    """The step's pinned resources, copied into the run's bundle: the job reads only
    there (its account sees nothing outside runs/)."""
    copied = []
    for name, pin in sorted(run.config[step.order].resources.items()):
        target = layout.bundle_resource(run.org_id, run.id, name)
        with contextlib.suppress(BlobExists):  # an earlier attempt copied it
            store.copy(pin.uri, target, create_only=True)
        copied.append(resource_file(name, pin, target))
    return copied


def input_envelope(
    settings: Settings,
    run: ValidationRun,
    step: StepRun,
    submission: Submission,
    file_uri: str,
    resources: list[InputFile],
) -> InputEnvelope:
    """What a step's validator is handed, on the job path and the fast path alike."""
    spec = validator_job(step.validator)
    return InputEnvelope(
        run_id=run.id,
        org_id=run.org_id,
        step_order=step.order,
        step_key=step.key,
        attempt=step.attempt,
        validator=ValidatorRef(name=spec.name, version=spec.version),
        config=run.config[step.order].config,
        files=[
            InputFile(
                name=submission.original_filename,
                uri=file_uri,
                sha256=submission.checksum_sha256,
                size_bytes=submission.size_bytes,
                content_type=submission.content_type,
            )
        ],
        callback_url=settings.callback_url,
        callback_id=step.callback_id or "",
        output_uri=Layout(settings.storage_uri).output_envelope(
            run.org_id, run.id, step.order, step.attempt
        ),
        timeout_seconds=run.config[step.order].timeout_seconds,
        retain_until=submission.retained_until,
        redact_values=run.submission_retention is RetentionPolicy.DO_NOT_STORE,
        resources=resources,
    )


class UrlSigner:
    """Signs V4 URLs for one execution's objects, as the worker itself (IAM signBlob)."""

    def __init__(self, settings: Settings, signer: Signing, layout: Layout, timeout: int):
        self.settings, self.signer, self.layout = settings, signer, layout
        self.lifetime = min(timedelta(seconds=timeout) + URL_GRACE, MAX_URL_LIFETIME)

    def get(self, uri: str) -> str:
        bucket, name = self.layout.bucket_and_name(uri)
        return signed_get_url(self.settings, self.signer, bucket, name, self.lifetime)

    def create(self, uri: str, retain_until: datetime | None) -> str:
        bucket, name = self.layout.bucket_and_name(uri)
        headers = put_headers(retain_until)
        return signed_put_url(self.settings, self.signer, bucket, name, headers, self.lifetime)


def signed_envelope(envelope: InputEnvelope, urls: UrlSigner) -> InputEnvelope:
    """The envelope with a URL for exactly what its execution reads and writes: a GET for
    each input and resource, a create-only PUT for output.json and for each artifact its
    validator may write (beside output.json)."""
    folder = envelope.output_uri.rsplit("/", 1)[0]
    until = envelope.retain_until
    artifacts = validator_job(envelope.validator.name).artifacts
    return envelope.model_copy(
        update={
            "files": [f.model_copy(update={"url": urls.get(f.uri)}) for f in envelope.files],
            "resources": [
                r.model_copy(update={"url": urls.get(r.uri)}) for r in envelope.resources
            ],
            "output_url": urls.create(envelope.output_uri, until),
            "artifact_urls": {name: urls.create(f"{folder}/{name}", until) for name in artifacts},
        }
    )


def _write_input(
    store: BlobStore,
    layout: Layout,
    settings: Settings,
    claim: _Claim,
    submission: Submission,
    bundle_copy: str,
    signer: Signing | None,
) -> str:
    """Writes the step's input.json; returns where the job reads it (INPUT_URI): a
    signed GET URL when the deployment signs, else its storage URI."""
    run, step = claim.run, claim.step
    resources = _copy_resources(store, layout, run, step)
    envelope = input_envelope(settings, run, step, submission, bundle_copy, resources)
    urls = None
    if signer is not None:
        urls = UrlSigner(settings, signer, layout, envelope.timeout_seconds)
        envelope = signed_envelope(envelope, urls)
    input_uri = layout.input_envelope(run.org_id, run.id, step.order, step.attempt)
    store.write_bytes(
        input_uri,
        envelope.model_dump_json(indent=2).encode(),
        "application/json",
        retain_until=submission.retained_until,
    )
    return urls.get(input_uri) if urls is not None else input_uri


@dataclass
class _Launching:
    """One claimed step on its way to a job: what each step of `launch` needs."""

    repos: Repositories
    queue: TaskQueue
    settings: Settings
    now: Clock
    run: ValidationRun
    step: StepRun

    def update(self, change: Callable[[ValidationRun, StepRun], None]) -> ValidationRun | None:
        callback_id = self.step.callback_id or ""
        return _update_claimed(
            self.repos, self.run.id, self.step.order, callback_id, change, self.now
        )

    def fail(self, category: ErrorCategory, message: str) -> LaunchOutcome:
        """Ends the run FAILED, if the step is still ours and the run has not ended."""
        callback_id, order = self.step.callback_id, self.step.order

        def end(transaction: UnitOfWork) -> None:
            current = transaction.run(self.run.id)
            if (
                current is None
                or current.terminal
                or current.steps[order].callback_id != callback_id
            ):
                return
            follow_up = FollowUp(self.queue, self.settings)
            end_run(
                transaction,
                current,
                RunStatus.FAILED,
                self.now(),
                follow_up,
                error_category=category,
                error=message,
            )

        self.repos.transact(end)
        log.error("launch failed: %s", message, extra={"run_id": self.run.id})
        return LaunchOutcome("launch failed", self.run.id)

    def release(self, run: ValidationRun, step: StepRun) -> None:
        """Gives the claim back, so the queue's retry can take it at once."""
        step.move(StepStatus.PENDING)
        step.callback_id = step.claim_expires_at = step.started_at = None
        run.reconcile_at = launch_overdue(self.now(), self.settings.launch_grace_seconds)


def launch(
    repos: Repositories,
    store: BlobStore,
    jobs: JobRunner,
    queue: TaskQueue,
    settings: Settings,
    task: LaunchTask,
    now: Clock = utcnow,
    signer: Signing | None = None,
) -> LaunchOutcome:
    """Claims the step, writes its bundle and input, starts its job and records the
    execution. `signer` signs the execution's URLs (the worker's own account); None
    signs none (the job then needs storage access of its own: tests only)."""
    claimed = _claim(repos, settings, task, now)
    if isinstance(claimed, str):
        log.info("launch skipped: %s", claimed, extra={"run_id": task.run_id})
        return LaunchOutcome(claimed, task.run_id)
    logs.bind(run_id=claimed.run.id, org_id=claimed.run.org_id)
    launching = _Launching(repos, queue, settings, now, claimed.run, claimed.step)
    try:
        execution = _start_job(launching, store, jobs, claimed, signer)
    except PermanentJobError as exc:
        return launching.fail(
            ErrorCategory.LAUNCH_FAILED, f"the validator job could not start: {exc}"
        )
    except Exception as exc:
        launching.update(launching.release)
        if isinstance(exc, Transient):
            raise
        log.exception("launch could not finish", extra={"run_id": claimed.run.id})
        raise Transient(f"the launch could not finish: {type(exc).__name__}") from exc
    if isinstance(execution, LaunchOutcome):
        return execution
    return _record(launching, jobs, execution)


def _start_job(
    launching: _Launching,
    store: BlobStore,
    jobs: JobRunner,
    claimed: _Claim,
    signer: Signing | None,
) -> Execution | LaunchOutcome:
    """The step's bundle and input written, its job started; a LaunchOutcome when the
    run failed for want of its content."""
    run, step, settings = launching.run, launching.step, launching.settings
    layout = Layout(settings.storage_uri)
    submission = launching.repos.submissions.find(run.submission_id)
    bundle_copy = _copy_into_bundle(store, layout, run, submission)
    if submission is None or bundle_copy is None:
        message = "the submission's content is no longer available"
        return launching.fail(ErrorCategory.SYSTEM_ERROR, message)
    input_url = _write_input(store, layout, settings, claimed, submission, bundle_copy, signer)
    return jobs.run(
        validator_job(step.validator).job_name(settings.job_prefix),
        _job_env(input_url, layout.input_envelope(run.org_id, run.id, step.order, step.attempt)),
        timeout_seconds=run.config[step.order].timeout_seconds,
    )


def _job_env(input_url: str, input_uri: str) -> dict[str, str]:
    env = {"INPUT_URI": input_url}
    if input_url != input_uri:
        # The object's own name, by which reconcile finds the execution of an attempt
        # whose launch died before recording it (a signed URL differs every time).
        env["INPUT_OBJECT"] = input_uri
    parent = logs.traceparent()
    if parent:
        env["TRACEPARENT"] = parent  # the job's lines join the run's trace
    return env


def _record(launching: _Launching, jobs: JobRunner, execution: Execution) -> LaunchOutcome:
    run_id = launching.run.id
    if launching.update(lambda r, s: record_execution(r, s, execution)) is None:
        # The run ended (cancelled, timed out) while the job was starting: stop it.
        _cancel_quietly(jobs, execution.name, run_id)
        return LaunchOutcome("run ended while launching", run_id, execution.name)
    log.info("launched %s", execution.name, extra={"run_id": run_id})
    return LaunchOutcome("launched", run_id, execution.name)


def _cancel_quietly(jobs: JobRunner, execution_name: str, run_id: str) -> None:
    try:
        jobs.cancel(execution_name)
    except Exception:
        log.warning("could not cancel %s", execution_name, exc_info=True, extra={"run_id": run_id})


def cancel_execution(repos: Repositories, jobs: JobRunner, task: CancelTask) -> LaunchOutcome:
    """Stops the execution a cancelled run asked to stop: only one a step of that run
    records, and only once the run has ended (a repeat cancels a cancelled execution,
    which Cloud Run accepts)."""
    run = repos.runs.find(task.run_id)
    if run is None:
        return LaunchOutcome("run does not exist", task.run_id)
    if not run.terminal:
        return LaunchOutcome(f"run is {run.status}, not ended", task.run_id)
    if all(s.execution_name != task.execution_name for s in run.steps):
        return LaunchOutcome("no step of the run has that execution", task.run_id)
    try:
        jobs.cancel(task.execution_name)
    except PermanentJobError as exc:  # gone, or finished: nothing left to stop
        log.warning("execution not cancelled: %s", exc, extra={"run_id": run.id})
        return LaunchOutcome("not cancellable", run.id, task.execution_name)
    log.info("execution cancelled", extra={"run_id": run.id})
    return LaunchOutcome("cancelled", run.id, task.execution_name)
