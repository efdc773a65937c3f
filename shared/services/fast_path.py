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

DO_NOT_STORE on the fast path stores nothing: the content lives only in the request's
memory; the record keeps checksum, size and filename.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import time
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from shared.adapters.tasks import TaskQueue
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.domain.deadlines import launch_overdue
from shared.domain.enums import Execution, StepStatus
from shared.domain.models import StepRun, Submission, ValidationRun, WorkflowVersion
from shared.envelopes import OutputEnvelope, ValidatorRef
from shared.persistence.repositories import Repositories
from shared.services.callbacks import (
    apply_output,
    commit_output,
    with_assertions,
    withdraw_results,
    write_results,
)
from shared.services.finalize import Ended, after_commit
from shared.services.launches import input_envelope, resource_file
from shared.validators_catalog import CATALOG, get_validator

log = logging.getLogger(__name__)


def plan(version: WorkflowVersion, size: int, settings: Settings) -> Execution:
    """JOB or INLINE for a file of `size` bytes on this workflow version."""
    if version.execution is Execution.JOB:
        return Execution.JOB
    light = all(get_validator(s.validator).runs_inline for s in version.steps)
    if version.execution is Execution.INLINE and light:
        return Execution.INLINE
    return Execution.INLINE if light and size <= settings.fast_path_max_bytes else Execution.JOB


def inline_overdue(settings: Settings, since: datetime) -> datetime:
    """When the reconcile pass should take over an inline run that nobody finished: its
    whole inline budget from `since`, plus the launch grace."""
    budget = timedelta(seconds=settings.fast_path_seconds)
    return launch_overdue(since + budget, settings.launch_grace_seconds)


@cache
def _context() -> Any:
    """The fork server: a clean process, forked per check, with the inline validators
    already imported (a check starts in milliseconds, not an interpreter's start)."""
    context = multiprocessing.get_context("forkserver")
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
    from validators.runtime import produce_output

    spec = get_validator(step.validator)
    assert spec.inline_module is not None  # plan() chose inline for light validators only
    validate = importlib.import_module(spec.inline_module).validate
    # The API reads resources where they are pinned; a job reads its bundle's copy.
    resources = [
        resource_file(name, pin, pin.uri)
        for name, pin in sorted(run.config[step.order].resources.items())
    ]
    envelope = input_envelope(settings, run, step, submission, f"inline:{submission.id}", resources)
    output = produce_output(
        validate,
        envelope,
        lambda: [(envelope.files[0], Payload(data=data))],
        ValidatorRef(name=spec.name, version=spec.version),
        seconds,
        context=_context(),
        memory_bytes=settings.fast_path_memory_mb * 1024 * 1024,
    )
    checked = with_assertions(output, run, step)
    assert not isinstance(checked, str)  # with_assertions keeps an output an output
    return checked


def _settle(
    repos: Repositories,
    settings: Settings,
    run: ValidationRun,
    step: StepRun,
    output: OutputEnvelope,
    now: Clock,
) -> tuple[ValidationRun | None, Ended | None, bool]:
    """Applies the step's output in one transaction if the step is still this path's:
    (the run as committed, what its end asks for after the commit, whether it applied)."""

    def settle(transaction: Any) -> tuple[ValidationRun | None, Ended | None, bool]:
        current = repos.find_run(run.id, transaction=transaction)
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
        return current, commit_output(transaction, repos, current, ending, at), True

    result: tuple[ValidationRun | None, Ended | None, bool] = repos.transact(settle)
    return result


def run_inline(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    run: ValidationRun,
    submission: Submission,
    data: bytes,
    now: Clock = utcnow,
) -> ValidationRun:
    """Runs the steps of a run planned INLINE, in order, until one ends it. The steps
    share ASSAY_FAST_PATH_SECONDS: each may take its own timeout or what is left of that,
    whichever is less, so the request that carries them stays within its own limit."""
    current: ValidationRun | None = run
    until = time.monotonic() + settings.fast_path_seconds
    for order in range(len(run.steps)):
        assert current is not None
        step = current.steps[order].model_copy(update={"execution": Execution.INLINE, "attempt": 1})
        left = max(1.0, until - time.monotonic())
        seconds = min(float(current.config[order].timeout_seconds), left)
        output = _check(settings, current, step, submission, data, seconds)
        write_results(repos, current, step, output, now)
        settled, ended, applied = _settle(repos, settings, current, step, output, now)
        if not applied:
            withdraw_results(repos, current, step, output)
            log.info("inline step %s was taken over", order, extra={"run_id": run.id})
            return settled or current
        after_commit(ended, queue, settings)
        current = settled
        if current is None or current.terminal:
            break
    assert current is not None
    return current
