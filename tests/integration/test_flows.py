"""Launch and callback services against the Firestore emulator, file storage, the
Cloud Tasks stand-in and the Cloud Run Jobs stand-in, with real concurrency."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack.job_runner import JobRunner
from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.contract.envelopes import (
    CallbackBody,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.domain.enums import RunStatus, Severity, StepStatus
from shared.domain.task_bodies import LaunchTask
from shared.platform.config import get_settings
from shared.platform.errors import Conflict, Transient, Unprocessable
from shared.services import workflows
from shared.services.callbacks import handle_callback
from shared.services.launches import _claim, launch
from shared.services.submissions import IncomingFile, submit
from tests.factories import workflow_body

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new_run(repos, org, steps=1):
    workflows.create_workflow(repos, org, workflows.WorkflowCreate(**workflow_body(steps=steps)))
    from shared.api.auth.api_keys import issue_key

    record, _ = issue_key(repos, org, "k")
    result = submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=record,
        slug="people",
        incoming=IncomingFile(b'{"name": "x"}', "p.json", "application/json"),
    )
    return result.run


def claimed(repos, run, order=0):
    """Claims a step attempt exactly as launch does, and returns the claimed step."""
    claim = _claim(
        repos,
        get_settings(),
        LaunchTask(run_id=run.id, step_order=order, attempt=1),
        lambda: datetime.now(UTC),
    )
    return claim.step


def write_output(run, step, status=OutputStatus.FAILED_VALIDATION, findings=3):
    layout = Layout(get_settings().storage_uri)
    uri = layout.output_envelope(run.org_id, run.id, step.order, step.attempt)
    output = OutputEnvelope(
        run_id=run.id,
        org_id=run.org_id,
        step_order=step.order,
        attempt=step.attempt,
        callback_id=step.callback_id,
        status=status,
        findings=[
            OutputFinding(
                severity=Severity.ERROR, code="schema.type", message=f"m{i}", path=f"/{i}"
            )
            for i in range(findings)
        ],
        timing=Timing(started_at=NOW, ended_at=NOW, duration_ms=1),
        validator=ValidatorRef(name="json-schema", version="1.0.0"),
    )
    wiring.blob_store().write_bytes(uri, output.model_dump_json().encode())
    return CallbackBody(run_id=run.id, callback_id=step.callback_id, status=status, result_uri=uri)


def callback(body):
    return handle_callback(
        wiring.repositories(), wiring.blob_store(), wiring.task_queue(), get_settings(), body
    )


@pytest.mark.firestore
def test_concurrent_duplicate_callbacks_are_processed_once(flow):
    repos, org = flow
    run = new_run(repos, org)
    step = claimed(repos, run)
    body = write_output(run, step, findings=7)

    def deliver(_):
        try:
            return "replay" if callback(body).replay else "processed"
        except Transient:
            return "busy"  # answered 503: the validator's retry gets the replay

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(deliver, range(8)))
    assert outcomes.count("processed") == 1
    assert set(outcomes) <= {"processed", "replay", "busy"}
    assert repos.findings.count(run.id) == 7
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result, stored.summary.error_count) == ("FAILED", "FAIL", 7)
    receipts = list(repos.db.collection("callback_receipts").stream())
    assert [r.id for r in receipts] == [step.callback_id]
    # And later deliveries are still replays that change nothing.
    assert callback(body).replay is True
    assert repos.runs.get(org, run.id) == stored


def test_a_passing_step_queues_the_next_and_the_last_finishes_the_run(flow):
    repos, org = flow
    run = new_run(repos, org, steps=2)
    first = claimed(repos, run, 0)
    outcome = callback(write_output(run, first, OutputStatus.SUCCESS, findings=0))
    assert outcome.run.status is RunStatus.RUNNING
    assert [s.status for s in outcome.run.steps] == [StepStatus.PASSED, StepStatus.PENDING]
    from shared.services.dispatch import launch_task_id

    names = {t["name"].rsplit("/", 1)[-1] for t in queued_tasks()}
    assert launch_task_id(run.id, 1, 1) in names
    second = claimed(repos, run, 1)
    done = callback(write_output(run, second, OutputStatus.SUCCESS, findings=0))
    assert (done.run.status, done.run.result) == (RunStatus.SUCCEEDED, "PASS")
    assert done.run.output_expires_at is not None


def queued_tasks():
    import requests

    url = get_settings().tasks_endpoint + "/_local/tasks"
    return requests.get(url, timeout=5).json()["tasks"]


def test_a_failed_first_step_skips_the_rest(flow):
    repos, org = flow
    run = new_run(repos, org, steps=3)
    outcome = callback(write_output(run, claimed(repos, run, 0)))
    assert [s.status for s in outcome.run.steps] == ["FAILED", "SKIPPED", "SKIPPED"]
    assert outcome.run.result == "FAIL"


def test_result_uri_must_be_inside_the_attempts_folder(flow):
    repos, org = flow
    run = new_run(repos, org)
    step = claimed(repos, run)
    body = write_output(run, step)
    outside = body.model_copy(
        update={"result_uri": body.result_uri.replace(f"/steps/0/{step.attempt}/", "/")}
    )
    with pytest.raises(Unprocessable, match="inside this attempt's folder"):
        callback(outside)
    sneaky = body.model_copy(
        update={
            "result_uri": body.result_uri.replace("output.json", "../../../../../../etc/passwd")
        }
    )
    with pytest.raises(Unprocessable):
        callback(sneaky)
    with pytest.raises(Conflict):
        callback(body.model_copy(update={"callback_id": "not-issued"}))
    assert repos.runs.get(org, run.id).status is RunStatus.RUNNING


def test_a_broken_output_ends_the_run_as_an_error_not_a_fail(flow):
    repos, org = flow
    run = new_run(repos, org)
    step = claimed(repos, run)
    body = write_output(run, step)
    wiring.blob_store().write_bytes(body.result_uri, b'{"not": "an output"}')
    outcome = callback(body)
    assert (outcome.run.status, outcome.run.result) == (RunStatus.FAILED, "ERROR")
    assert outcome.run.error_category == "VALIDATOR_ERROR"


def test_a_runtime_failure_is_an_error(flow):
    repos, org = flow
    run = new_run(repos, org)
    outcome = callback(write_output(run, claimed(repos, run), OutputStatus.FAILED_RUNTIME, 0))
    assert (outcome.run.result, outcome.run.error_category) == ("ERROR", "VALIDATOR_ERROR")


@pytest.fixture
def jobs(serve, monkeypatch, tmp_path):
    server = serve(JobRunner(tmp_path / "job-logs", job_prefix="validator-"))
    monkeypatch.setenv("ASSAY_JOBS_ENDPOINT", server.url)
    monkeypatch.setenv("ASSAY_JOB_PREFIX", "missing-")
    wiring.reset()
    return server


def do_launch(run):
    return launch(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.job_runner(),
        wiring.task_queue(),
        get_settings(),
        LaunchTask(run_id=run.id, step_order=0, attempt=1),
    )


def test_a_job_that_does_not_exist_fails_the_run_with_a_clear_error(flow, jobs):
    repos, org = flow
    run = new_run(repos, org)
    outcome = do_launch(run)
    assert outcome.outcome == "launch failed"
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result, stored.error_category) == (
        "FAILED",
        "ERROR",
        "LAUNCH_FAILED",
    )
    assert "could not start" in stored.error and "missing-json-schema" in stored.error
    # The bundle was written before the attempt: input.json names a fresh callback_id.
    layout = Layout(get_settings().storage_uri)
    envelope = json.loads(Path(layout.input_envelope(org, run.id, 0, 1)[7:]).read_text())
    assert envelope["callback_id"] and envelope["files"][0]["name"] == "p.json"
    # A duplicate delivery afterwards does nothing.
    assert do_launch(run).outcome == "run already FAILED"


def test_a_transient_jobs_failure_releases_the_claim_for_the_retry(flow, monkeypatch):
    repos, org = flow
    monkeypatch.setenv("ASSAY_JOBS_ENDPOINT", "http://127.0.0.1:9")
    wiring.reset()
    run = new_run(repos, org)
    with pytest.raises(Transient):
        do_launch(run)
    step = repos.runs.get(org, run.id).steps[0]
    assert (step.status, step.callback_id, step.execution_name) == ("PENDING", None, None)


def test_a_claim_in_flight_makes_a_duplicate_wait(flow):
    repos, org = flow
    run = new_run(repos, org)
    claimed(repos, run)
    with pytest.raises(Conflict, match="in progress"):
        claimed(repos, run)
