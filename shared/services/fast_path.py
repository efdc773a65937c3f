"""The fast path: light validators run inside the `api` function that took the file.

A workflow's `execution` is `auto` (the default), `job` or `inline`. `auto` runs a
submission inline when every step's validator is light (the catalog names an
`inline_module`) and the file is at most ASSAY_FAST_PATH_MAX_BYTES. Inline, each step's
validator gets the same input envelope as a job, runs in a child process of a fork
server (started once, before any gRPC thread exists, so forking is safe) that is killed
at the step's timeout or when the run's ASSAY_FAST_PATH_SECONDS are spent, and limited to
ASSAY_FAST_PATH_MEMORY_MB of address space, and its output goes through the same
assertions, finding storage and step/run rules as a callback's (`apply_output`,
`end_run`). No launch task, no job, no callback.

The run stays PENDING until its first step's result commits, and carries a
`reconcile_at` past the inline budget: if the api instance dies mid-run, the reconcile
pass launches the step as a job. Each step's commit is fenced: it applies only while
that step is still PENDING, so a launch (or a cancel) that got there first wins and the
inline results are withdrawn.

Running inline never changes a verdict (decision record 0021): a step stopped because
the run's inline budget ran out, before its own timeout, is handed to the job path with
its full timeout. The hand-over is one transaction under the same fence (the run RUNNING
and on the job path, the step PENDING with execution JOB), then the normal launch task;
from there the run is a job-path run like any other (cancel, callbacks, the reconcile
pass). Only a step's own timeout makes TIMED_OUT.

DO_NOT_STORE on the fast path stores nothing: the content lives only in the request's
memory; the record keeps checksum, size and filename. A run handed to the job path keeps
the content as the job path does (a file, never on the record: decision record 0027),
until the run ends and the purge removes it.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import time
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.storage import BlobExists, BlobStore
from shared.adapters.storage.layout import Layout
from shared.adapters.tasks import TaskQueue
from shared.catalog.validators import CATALOG, get_validator
from shared.contract.envelopes import OutputEnvelope, OutputStatus, ValidatorRef
from shared.domain.deadlines import launch_overdue
from shared.domain.enums import Execution, StepStatus
from shared.domain.models import StepRun, Submission, ValidationRun, WorkflowVersion
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.once import once
from shared.services.callbacks import (
    apply_output,
    commit_output,
    with_assertions,
    withdraw_results,
    write_results,
)
from shared.services.dispatch import enqueue_launch
from shared.services.finalize import Ended, FollowUp
from shared.services.launches import input_envelope, resource_file
from shared.services.submissions import keep_content

log = logging.getLogger(__name__)


def plan(version: WorkflowVersion, size: int, settings: Settings) -> Execution:
    """JOB or INLINE for a file of `size` bytes on this workflow version. Where the api
    cannot sandbox a check (no bubblewrap: Cloud Functions' own image has none), every
    run takes the job path, whose images have it: a verdict the same, nothing parsed
    where the api's credential is (decision record 0023)."""
    from validators.sandbox import available

    if version.execution is Execution.JOB or not available():
        return Execution.JOB
    light = all(get_validator(s.validator).inline_for(s.engine) for s in version.steps)
    if version.execution is Execution.INLINE and light:
        return Execution.INLINE
    return Execution.INLINE if light and size <= settings.fast_path_max_bytes else Execution.JOB


def inline_overdue(settings: Settings, since: datetime) -> datetime:
    """When the reconcile pass should take over an inline run that nobody finished: its
    whole inline budget from `since`, plus the launch grace."""
    budget = timedelta(seconds=settings.fast_path_seconds)
    return launch_overdue(since + budget, settings.launch_grace_seconds)


@once
def _context() -> Any:
    """The fork server, in a sandbox (validators/sandbox.py): no network, so no metadata
    server and none of the api's credentials; a scrubbed environment; no view of the
    api's files but the interpreter and the product's code. It is forked per check with
    the inline validators already imported (a check starts in milliseconds, not an
    interpreter's start), and each child gets only the bytes of its own file.
    Raises SandboxUnavailable where bubblewrap cannot run: no check runs outside it.
    Built once under a lock (shared/platform/once.py): two first checks at once would each make a
    sandbox folder and configure the one forkserver context, the loser's folder leaked."""
    import tempfile
    from pathlib import Path

    from validators import sandbox

    context = multiprocessing.get_context("forkserver")
    folder = Path(tempfile.mkdtemp(prefix="assay-inline-"))
    context.set_executable(str(sandbox.interpreter(folder, sandbox.Limits(seconds=0))))
    # "__main__" too: else each check re-imports the program's main module (the
    # functions-framework command and all it imports) before it starts.
    modules = ["__main__", "validators.runtime"]
    for spec in CATALOG.values():
        if spec.inline_module:
            modules += [spec.inline_module, *spec.inline_preload]
    context.set_forkserver_preload(modules)
    return context


def _check(
    settings: Settings,
    run: ValidationRun,
    step: StepRun,
    submission: Submission,
    data: bytes,
    seconds: float,
) -> OutputEnvelope:
    from validators.payload import Payload
    from validators.runtime import failed_output, produce_output
    from validators.sandbox import SandboxUnavailable

    spec = get_validator(step.validator)
    assert spec.inline_module is not None  # plan() chose inline for light validators only
    module = importlib.import_module(spec.inline_module)
    # The API reads resources where they are pinned; a job reads its bundle's copy.
    resources = [
        resource_file(name, pin, pin.uri)
        for name, pin in sorted(run.config[step.order].resources.items())
    ]
    envelope = input_envelope(settings, run, step, submission, f"inline:{submission.id}", resources)
    # What the engine needs is read here; the sandboxed check reads nothing but its bytes.
    envelope = envelope.model_copy(update={"config": module.resolved_config(envelope)})
    validator = ValidatorRef(name=spec.name, version=spec.version)
    try:
        context = _context()
    except SandboxUnavailable as exc:
        return failed_output(envelope, validator, "sandbox.unavailable", str(exc))
    output = produce_output(
        module.inline,
        envelope,
        lambda: [(envelope.files[0], Payload(data=data))],
        validator,
        seconds,
        context=context,
        memory_bytes=settings.fast_path_memory_mb * 1024 * 1024,
    )
    checked = with_assertions(output, run, step)
    assert not isinstance(checked, str)  # with_assertions keeps an output an output
    return checked


def _settle(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    run: ValidationRun,
    step: StepRun,
    output: OutputEnvelope,
    now: Clock,
) -> tuple[ValidationRun | None, Ended | None, bool]:
    """Applies the step's output in one transaction if the step is still this path's:
    (the run as committed, what its end asks for after the commit, whether it applied)."""

    def settle(transaction: UnitOfWork) -> tuple[ValidationRun | None, Ended | None, bool]:
        current = transaction.run(run.id)
        if current is None or current.terminal:
            return current, None, False
        target = current.steps[step.order]
        if target.status is not StepStatus.PENDING or target.attempt != 0:
            return current, None, False  # a launch took it over (the reconcile pass)
        at = now()
        current.start(output.timing.started_at)
        target.move(StepStatus.RUNNING)
        target.execution, target.attempt = Execution.INLINE, 1
        target.started_at = output.timing.started_at
        # The next step runs here too: overdue once the inline budget and the grace pass.
        grace = settings.launch_grace_seconds + settings.fast_path_seconds
        ending = apply_output(current, target, output, at, grace)
        follow_up = FollowUp(queue, settings)
        return current, commit_output(transaction, current, ending, at, follow_up), True

    result: tuple[ValidationRun | None, Ended | None, bool] = repos.transact(settle)
    return result


def _short_of_a_job(seconds: float, timeout_seconds: int) -> bool:
    """Whether a check given `seconds` inline had less time than a job would give it
    (its own deadline within the step's timeout). One that had as much and timed out
    would time out as a job too: that is the step's own timeout, and the verdict."""
    from validators.runtime import own_deadline

    return seconds < own_deadline(timeout_seconds)


def _keep_for_job(store: BlobStore, settings: Settings, submission: Submission, data: bytes) -> str:
    """A DO_NOT_STORE submission's bytes, kept as a file where the job path reads them
    (the fast path stored nothing; never on the Submission: decision record 0027). The
    job path's own purge removes it once the run ends."""
    try:
        return keep_content(
            store,
            settings,
            org_id=submission.org_id,
            submission_id=submission.id,
            filename=submission.original_filename,
            content_type=submission.content_type,
            data=data,
            retain=submission.retained_until,
        )
    except BlobExists:  # the same bytes, under the submission's own name
        return Layout(settings.storage_uri).submission_file(
            submission.org_id, submission.id, submission.original_filename
        )


def _with_content(
    transaction: UnitOfWork, run: ValidationRun, kept: str | None
) -> Submission | None:
    """The run's Submission as it reads once the file `kept` holds its content for the
    job: no longer purged. None when there is nothing to change."""
    if kept is None or not run.submission_id:
        return None
    submission = transaction.submission(run.submission_id)
    if submission is not None:
        submission.input_file = kept
        submission.content_purged_at = None
    return submission


def _take_over_step(
    repos: Repositories,
    settings: Settings,
    run: ValidationRun,
    order: int,
    began: datetime,
    kept: str | None,
    now: Clock,
) -> tuple[ValidationRun | None, bool]:
    """Puts step `order` on the job path in one transaction, fenced as `_settle` is:
    only while the step is still PENDING and unclaimed and the run has not ended, so a
    cancel or a launch that got there first wins. (the run, whether it moved)"""

    def take_over(transaction: UnitOfWork) -> tuple[ValidationRun | None, bool]:
        current = transaction.run(run.id)
        if current is None or current.terminal:
            return current, False
        target = current.steps[order]
        if target.status is not StepStatus.PENDING or target.attempt != 0:
            return current, False
        submission = _with_content(transaction, current, kept)  # reads come first
        current.start(began)  # it began with its first inline check
        current.execution = target.execution = Execution.JOB
        current.reconcile_at = launch_overdue(now(), settings.launch_grace_seconds)
        if submission is not None:
            transaction.save(submission)
        transaction.save(current)
        return current, True

    result: tuple[ValidationRun | None, bool] = repos.transact(take_over)
    return result


def _hand_over(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    run: ValidationRun,
    *,
    order: int,
    began: datetime,
    held: tuple[Submission, bytes],
    now: Clock,
) -> ValidationRun:
    """The inline budget ran out before the step's own timeout: the step goes on as a
    job with its full timeout (the verdict `execution: job` would give), through the
    normal launch task. Nothing the inline attempt did is kept. `held`: the submission
    and its bytes as this request has them."""
    kept = _keep_for_job(store, settings, *held) if run.stored_nothing else None
    # Should this raise, the file stays (the commit may have happened): the reconcile
    # pass heals the run either way, and the lifecycle rule removes an orphan.
    current, moved = _take_over_step(repos, settings, run, order, began, kept, now)
    if not moved:
        _drop(store, kept)  # a cancel or a launch got there first; the run is theirs
        return current or run
    enqueue_launch(queue, settings, run.id, order, 1)
    log.info("inline budget spent: step %s handed to the job path", order, extra={"run_id": run.id})
    assert current is not None
    return current


def _drop(store: BlobStore, kept: str | None) -> None:
    """Deletes a file kept for a job that will not run (best effort: the buckets'
    lifecycle rule is the safety net for DO_NOT_STORE content)."""
    if kept is None:
        return
    try:
        store.delete(kept)
    except Exception:
        log.warning("could not delete %s", kept, exc_info=True)


def run_inline(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    run: ValidationRun,
    submission: Submission,
    data: bytes,
    now: Clock = utcnow,
) -> ValidationRun:
    """Runs the steps of a run planned INLINE, in order, until one ends it. The steps
    share ASSAY_FAST_PATH_SECONDS: each may take its own timeout or what is left of that,
    whichever is less, so the request that carries them stays within its own limit. A
    step stopped by what was left rather than by its own timeout goes on as a job: only
    a step's own timeout makes TIMED_OUT."""
    current: ValidationRun | None = run
    until = time.monotonic() + settings.fast_path_seconds
    for order in range(len(run.steps)):
        assert current is not None
        step = current.steps[order].model_copy(update={"execution": Execution.INLINE, "attempt": 1})
        timeout = current.config[order].timeout_seconds
        seconds = min(float(timeout), max(1.0, until - time.monotonic()))
        output = _check(settings, current, step, submission, data, seconds)
        if output.status is OutputStatus.TIMED_OUT and _short_of_a_job(seconds, timeout):
            began, held = output.timing.started_at, (submission, data)
            return _hand_over(
                repos, store, queue, settings, current, order=order, began=began, held=held, now=now
            )
        write_results(repos, current, step, output, now)
        settled, _, applied = _settle(repos, queue, settings, current, step, output, now)
        if not applied:
            withdraw_results(repos, current, step, output)
            log.info("inline step %s was taken over", order, extra={"run_id": run.id})
            return settled or current
        current = settled
        if current is None or current.terminal:
            break
    assert current is not None
    return current
