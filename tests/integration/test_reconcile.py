"""The reconcile pass against injected faults, with real processes: the Firestore
emulator, the Cloud Tasks stand-in (which records tasks; no launch function answers, so
every task is a dropped task), and the Cloud Run Jobs stand-in running a validator job
that hangs, crashes or never calls back (tests/jobs/json_schema.py). Each run reaches
the right terminal state within two passes, and each test checks the documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.job_runner import JobRunner
from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.domain.enums import CloudRunJobStatus
from shared.domain.task_bodies import LaunchTask
from shared.platform.config import get_settings
from shared.services import workflows
from shared.services.launches import _claim, launch
from shared.services.reconcile import Context, reconcile
from shared.services.submissions import IncomingFile, submit
from tests.factories import make_org, workflow_body
from tests.integration.conftest import sign_job_urls
from tests.integration.test_flows import callback
from tests.integration.test_jobs_adapter import settle

RUNNERS: list[JobRunner] = []


@pytest.fixture(autouse=True)
def _stop_jobs() -> Iterator[None]:
    yield
    while RUNNERS:
        RUNNERS.pop().stop_all()


def fake_jobs(serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, behaviour: str) -> Any:
    runner = JobRunner(
        tmp_path / "job-logs",
        job_prefix="validator-",
        module_prefix="tests.jobs.",
        env={
            "FAKE_JOB": behaviour,
            **{k: v for k, v in __import__("os").environ.items() if k.startswith("FIRESTORE")},
        },
    )
    RUNNERS.append(runner)
    server = serve(runner)
    monkeypatch.setenv("ASSAY_JOBS_ENDPOINT", server.url)
    sign_job_urls(serve, monkeypatch)
    return runner


@pytest.fixture
def world(repos: Any, dispatcher: Any) -> tuple[Any, str, Any]:
    wiring.reset()
    repos = wiring.repositories()
    org, _ = make_org(repos)
    return repos, org, dispatcher


def new_run(
    repos: Any, org: str, *, steps: int = 2, timeout: int = 5, data: bytes = b'{"name": ""}'
) -> Any:
    body = workflow_body(steps=steps)
    body["steps"][0]["timeout_seconds"] = timeout
    body["retention"]["submission"] = "DO_NOT_STORE"
    workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    from shared.api.auth.api_keys import issue_key

    record, _ = issue_key(repos, org, "k")
    result = submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=record,
        slug="people",
        incoming=IncomingFile(data, "p.json", "application/json"),
    )
    return result.run


def passes(at: datetime) -> Callable[..., Any]:
    def one_pass() -> Any:
        ctx = Context(
            wiring.repositories(),
            wiring.blob_store(),
            wiring.task_queue(),
            wiring.job_runner(),
            get_settings(),
            lambda: at,
        )
        return reconcile(ctx)

    return one_pass


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def do_launch(run_id: str, attempt: int = 1) -> Any:
    return launch(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.job_runner(),
        wiring.task_queue(),
        get_settings(),
        LaunchTask(run_id=run_id, step_order=0, attempt=attempt),
        signer=wiring.job_url_signer(),
    )


def test_a_dropped_launch_task_is_queued_again(world: Any) -> None:
    repos, org, dispatcher = world
    run = new_run(repos, org)
    first = set(dispatcher.tasks)
    assert passes(later(seconds=10))().looked_at == 0  # not overdue yet

    report = passes(later(minutes=3))()
    assert report.healed["relaunched"] == 1
    again = [t for name, t in dispatcher.tasks.items() if name not in first]
    assert len(again) == 1 and again[0].url == get_settings().launch_url
    assert b'"run_id": "' + run.id.encode() in again[0].body.replace(b'":"', b'": "')
    stored = repos.runs.get(org, run.id)
    assert stored.status == "PENDING" and stored.reconcile_at > datetime.now(UTC)
    # The same pass again is not yet due: one relaunch per grace period.
    assert passes(later(minutes=3))().healed.get("relaunched", 0) == 0


def test_a_hung_execution_is_cancelled_and_the_run_times_out(
    world: Any, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    repos, org, _ = world
    runner = fake_jobs(serve, monkeypatch, tmp_path, "hang")
    run = new_run(repos, org)
    outcome = do_launch(run.id)
    assert outcome.outcome == "launched"
    assert passes(later(seconds=30))().looked_at == 0  # not overdue yet

    report = passes(later(seconds=5 + 61))()
    assert report.healed["timed_out"] == 1
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result) == ("TIMED_OUT", "TIMED_OUT")
    assert [s.status for s in stored.steps] == ["FAILED", "SKIPPED"]
    assert "past its timeout of 5s" in stored.error
    assert wiring.job_runner().get(outcome.execution_name).status is CloudRunJobStatus.CANCELLED
    assert runner.executions[outcome.execution_name].process.poll() is not None
    assert repos.purge_retries.find(stored.submission_id) is not None  # DO_NOT_STORE
    assert passes(later(minutes=10))().healed.get("timed_out", 0) == 0


def test_an_execution_that_fails_without_a_result_fails_the_run(
    world: Any, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    repos, org, _ = world
    fake_jobs(serve, monkeypatch, tmp_path, "fail")
    run = new_run(repos, org)
    outcome = do_launch(run.id)
    assert settle(wiring.job_runner(), outcome.execution_name) is CloudRunJobStatus.FAILED

    report = passes(later(seconds=5 + 61))()
    assert report.healed["failed"] == 1
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result, stored.error_category) == (
        "FAILED",
        "ERROR",
        "VALIDATOR_ERROR",
    )
    assert outcome.execution_name in stored.error and "without reporting a result" in stored.error
    assert stored.error.endswith("Task 0 failed with exit code 3.")  # Cloud Run's own words
    assert [s.status for s in stored.steps] == ["FAILED", "SKIPPED"]


def test_a_lost_callback_is_recovered_from_the_output_once(
    world: Any, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    repos, org, _ = world
    fake_jobs(serve, monkeypatch, tmp_path, "silent")
    run = new_run(repos, org, steps=1)
    outcome = do_launch(run.id)
    assert settle(wiring.job_runner(), outcome.execution_name) is CloudRunJobStatus.SUCCEEDED

    report = passes(later(seconds=5 + 61))()
    assert report.healed["callback_recovered"] == 1
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result) == ("FAILED", "FAIL")
    assert repos.findings.count(run.id) == 1
    # The callback arrives after all: a replay, findings still once.
    step = stored.steps[0]
    layout = Layout(get_settings().storage_uri)
    from shared.contract.envelopes import CallbackBody

    late = CallbackBody(
        run_id=run.id,
        callback_id=step.callback_id,
        status="failed_validation",
        result_uri=layout.output_envelope(org, run.id, 0, step.attempt),
    )
    assert callback(late).replay is True
    assert repos.findings.count(run.id) == 1
    assert passes(later(minutes=10))().healed.get("callback_recovered", 0) == 0


def test_a_launch_that_died_after_starting_its_job_is_taken_over(
    world: Any, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    repos, org, _ = world
    fake_jobs(serve, monkeypatch, tmp_path, "hang")
    run = new_run(repos, org)
    claimed = _claim(
        repos,
        get_settings(),
        LaunchTask(run_id=run.id, step_order=0, attempt=1),
        lambda: datetime.now(UTC),
    )
    step = claimed.step
    input_uri = Layout(get_settings().storage_uri).input_envelope(org, run.id, 0, step.attempt)
    # The launch started the job twice (a retry raced it), then died before recording.
    jobs = wiring.job_runner()
    first = jobs.run("validator-json-schema", {"INPUT_URI": input_uri})
    # As a launch that signs starts it: INPUT_URI a signed URL, INPUT_OBJECT the name.
    signed_form = {"INPUT_URI": "http://127.0.0.1:9/storage/x?X-Goog-Signature=00"}
    second = jobs.run("validator-json-schema", signed_form | {"INPUT_OBJECT": input_uri})
    other = jobs.run("validator-json-schema", {"INPUT_URI": input_uri + "-someone-else"})
    assert passes(later(seconds=30))().looked_at == 0  # the claim is still leased

    report = passes(later(minutes=3))()
    assert report.healed["execution_recorded"] == 1
    assert report.healed["duplicate_cancelled"] == 1
    stored = repos.runs.get(org, run.id)
    recorded = stored.steps[0].execution_name
    assert recorded in (first.name, second.name) and stored.status == "RUNNING"
    dropped = second.name if recorded == first.name else first.name
    assert jobs.get(dropped).status is CloudRunJobStatus.CANCELLED
    assert jobs.get(recorded).status is CloudRunJobStatus.RUNNING
    assert jobs.get(other.name).status is CloudRunJobStatus.RUNNING

    # Second pass, past the step's deadline: the recorded one is stopped, TIMED_OUT.
    assert passes(later(minutes=3))().healed["timed_out"] == 1
    assert repos.runs.get(org, run.id).status == "TIMED_OUT"
    assert jobs.get(recorded).status is CloudRunJobStatus.CANCELLED
    jobs.cancel(other.name)


def test_a_claim_whose_launch_never_started_a_job_is_launched_again(
    world: Any, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    repos, org, dispatcher = world
    fake_jobs(serve, monkeypatch, tmp_path, "hang")
    run = new_run(repos, org)
    _claim(
        repos,
        get_settings(),
        LaunchTask(run_id=run.id, step_order=0, attempt=1),
        lambda: datetime.now(UTC),
    )
    before = set(dispatcher.tasks)
    report = passes(later(minutes=3))()
    assert report.healed["relaunched"] == 1
    assert len(set(dispatcher.tasks) - before) == 1
