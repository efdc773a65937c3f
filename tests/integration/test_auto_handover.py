"""Running inline never changes a verdict (decision record 0021), on the real API
(functions-framework's test client), the Firestore emulator, the Cloud Tasks stand-in
(which records tasks; each launch is delivered here, to the real launch service) and the
Cloud Run Jobs stand-in running real processes (tests/jobs/json_schema.py, the real
json-schema check in a job that hangs or writes its output without calling back). The
inline budget is set to 1 s: a check stopped by it, before its own timeout, goes on as a
job with its full timeout; only a step's own timeout makes TIMED_OUT; a cancel or a launch
racing the hand-over wins, and a replay queues nothing twice."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.job_runner import JobRunner
from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.contract.envelopes import CallbackBody, OutputEnvelope
from shared.domain.enums import CloudRunJobStatus
from shared.domain.task_bodies import CancelTask, LaunchTask
from shared.platform.clock import utcnow
from shared.platform.config import get_settings
from shared.services import fast_path, launches, runs
from shared.services.callbacks import handle_callback
from shared.services.purge import PurgeOutcome, purge_content
from tests.factories import workflow_body
from tests.integration.conftest import sign_job_urls
from tests.integration.test_jobs_adapter import settle

# A catastrophic regex: on "aaa…a!" it never finishes; its negation finishes (the file
# is valid) after about 2^n steps of backtracking on n a's.
HANGS = "^(a+)+$"
SLOW_BUT_VALID = "^(?!(a+)+$)"
STUCK = b'{"name": "' + b"a" * 48 + b'!"}'
BUDGET = 1


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ASSAY_FAST_PATH_SECONDS", str(BUDGET))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def jobs_that(
    behaviour: str, serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> JobRunner:
    """The Cloud Run Jobs stand-in, running `validator-json-schema` as the fake job
    (stopped with its server at the test's end)."""
    runner = JobRunner(
        tmp_path / "job-logs",
        job_prefix="validator-",
        module_prefix="tests.jobs.",
        env={"FAKE_JOB": behaviour},
    )
    monkeypatch.setenv("ASSAY_JOBS_ENDPOINT", serve(runner).url)
    sign_job_urls(serve, monkeypatch)
    return runner


def create(api: Any, pattern: str, timeout: int = 600, **extra: Any) -> None:
    body = workflow_body(execution="auto", **extra)
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": pattern}}}
    body["steps"][0].update(config={"schema": schema}, timeout_seconds=timeout)
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert created.status_code == 201, created.get_json()


def submit(api: Any, data: bytes, **headers: str) -> Any:
    return api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=data,
        headers={"Content-Type": "application/json", **headers},
    )


def launch_tasks(api: Any) -> list[LaunchTask]:
    return [
        LaunchTask.model_validate_json(t.body)
        for t in api.tasks()
        if t.name.split("/")[-1].startswith("launch-")
    ]


def deliver_launch(api: Any) -> launches.LaunchOutcome:
    """The queued launch task, delivered to the launch service (as the launch function)."""
    (task,) = launch_tasks(api)
    return launches.launch(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.job_runner(),
        wiring.task_queue(),
        get_settings(),
        task,
        signer=wiring.job_url_signer(),
    )


def assert_handed_over(answer: Any) -> dict[str, Any]:
    """What the API says of a run whose inline budget ran out: RUNNING on the job path,
    no result yet."""
    assert answer.status_code == 202, answer.get_json()
    run: dict[str, Any] = answer.get_json()["run"]
    assert (run["status"], run["state"], run["result"]) == ("RUNNING", "RUNNING", "UNKNOWN")
    assert run["execution"] == "job" and run["ended_at"] is None
    (step,) = run["steps"]
    assert (step["execution"], step["status"], step["attempt"]) == ("job", "PENDING", 0)
    assert step["error"] is None
    return run


def test_a_hung_check_moves_to_the_job_path_and_can_be_cancelled(
    api: Any, budget: None, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    jobs_that("hang", serve, monkeypatch, tmp_path)
    create(api, HANGS)
    started = time.monotonic()
    answer = submit(api, STUCK, Prefer="wait=3")
    elapsed = time.monotonic() - started
    run = assert_handed_over(answer)
    # The wait counts from the request: the inline second was part of it.
    assert answer.headers["Preference-Applied"] == "wait=3" and 2.9 < elapsed < 6
    assert [(t.step_order, t.attempt) for t in launch_tasks(api)] == [(0, 1)]

    # The normal launch path, with the step's full timeout.
    assert deliver_launch(api).outcome == "launched"
    stored = wiring.repositories().runs.get(api.org, run["id"])
    step = stored.steps[0]
    assert (stored.status, step.status, step.execution, step.attempt) == (
        "RUNNING",
        "RUNNING",
        "job",
        1,
    )
    assert step.execution_name and step.started_at and stored.reconcile_at
    assert (stored.reconcile_at - step.started_at).total_seconds() > 600  # its own timeout
    assert wiring.job_runner().get(step.execution_name).status is CloudRunJobStatus.RUNNING

    cancelled = api.post(f"/v1/orgs/{api.org}/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert (body["status"], body["result"]) == ("CANCELED", "CANCELED")
    assert (body["steps"][0]["status"], body["steps"][0]["job_status"]) == ("FAILED", "CANCELLED")
    (stop,) = [t for t in api.tasks() if t.name.split("/")[-1].startswith("cancel-")]
    task = CancelTask.model_validate_json(stop.body)
    outcome = launches.cancel_execution(wiring.repositories(), wiring.job_runner(), task)
    assert outcome.outcome == "cancelled"
    assert settle(wiring.job_runner(), step.execution_name) is CloudRunJobStatus.CANCELLED


def _slow_name(seconds: float) -> bytes:
    """A name the SLOW_BUT_VALID pattern takes about `seconds` to accept on this machine
    (each more 'a' doubles the time), measured rather than assumed."""
    probe = re.compile(SLOW_BUT_VALID)
    n, took = 18, 0.0
    while took < 0.05:
        n += 1
        began = time.perf_counter()
        probe.search("a" * n + "!")
        took = time.perf_counter() - began
    n += max(0, math.ceil(math.log2(seconds / took)))
    return b'{"name": "' + b"a" * n + b'!"}'


def test_a_check_longer_than_the_budget_but_within_its_timeout_passes(
    api: Any, budget: None, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    jobs_that("silent", serve, monkeypatch, tmp_path)  # checks for real, writes its output
    create(api, SLOW_BUT_VALID, timeout=120)
    run = assert_handed_over(submit(api, _slow_name(3 * BUDGET)))
    assert deliver_launch(api).outcome == "launched"
    repos = wiring.repositories()
    step = repos.runs.get(api.org, run["id"]).steps[0]
    assert settle(wiring.job_runner(), step.execution_name, timeout=90) is (
        CloudRunJobStatus.SUCCEEDED
    )
    # The callback the job would have sent, from the output it wrote.
    uri = Layout(get_settings().storage_uri).output_envelope(api.org, run["id"], 0, step.attempt)
    output = OutputEnvelope.model_validate_json(wiring.blob_store().read_bytes(uri))
    assert output.timing.duration_ms >= 0 and not output.findings
    body = CallbackBody(
        run_id=run["id"], callback_id=step.callback_id, status=output.status, result_uri=uri
    )
    handle_callback(repos, wiring.blob_store(), wiring.task_queue(), get_settings(), body)

    ended = api.get(f"/v1/orgs/{api.org}/runs/{run['id']}").get_json()
    assert (ended["status"], ended["result"]) == ("SUCCEEDED", "PASS")
    assert (ended["steps"][0]["execution"], ended["steps"][0]["status"]) == ("job", "PASSED")


def test_a_timeout_within_the_budget_still_times_out_inline(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_FAST_PATH_SECONDS", "4")
    get_settings.cache_clear()
    try:
        create(api, HANGS, timeout=1)
        started = time.monotonic()
        answer = submit(api, STUCK, Prefer="wait=10")
        assert time.monotonic() - started < 4  # stopped at its own timeout, not the budget
    finally:
        get_settings.cache_clear()
    run = answer.get_json()["run"]
    assert (answer.status_code, run["status"], run["result"]) == (200, "TIMED_OUT", "TIMED_OUT")
    step = run["steps"][0]
    assert (step["execution"], step["status"]) == ("inline", "FAILED")
    assert "did not finish within 1s" in step["error"]
    assert launch_tasks(api) == []  # no hand-over


def test_do_not_store_content_is_kept_for_the_job_then_purged(
    api: Any, budget: None, serve: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    jobs_that("hang", serve, monkeypatch, tmp_path)
    create(api, HANGS, retention={"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"})
    answer = submit(api, STUCK)
    run = assert_handed_over(answer)
    # The fast path stored nothing; the job path needs the content, as it always does.
    submission = answer.get_json()["submission"]
    assert submission["content_stored"] is True and submission["content_purged_at"] is None
    assert deliver_launch(api).outcome == "launched"  # it read the content
    assert api.post(f"/v1/orgs/{api.org}/runs/{run['id']}/cancel").status_code == 200

    # The job path's purge takes it away once the run has ended.
    repos = wiring.repositories()
    assert repos.purge_retries.find(submission["id"]) is not None  # under the purge task
    outcome = purge_content(repos, wiring.blob_store(), get_settings(), submission["id"])
    assert outcome is PurgeOutcome.PURGED
    purged = api.get(f"/v1/orgs/{api.org}/submissions/{submission['id']}").get_json()
    assert purged["content_stored"] is False and purged["content_purged_at"] is not None
    root = Path(get_settings().storage_uri.removeprefix("file://"))
    assert [p for p in root.rglob("*") if p.is_file() and api.org in str(p)] == []


def _racing(monkeypatch: pytest.MonkeyPatch, meanwhile: Any) -> None:
    """The inline check ends, then `meanwhile(run)` happens before the hand-over."""
    check = fast_path._check

    def then(settings: Any, run: Any, *rest: Any) -> Any:
        output = check(settings, run, *rest)
        meanwhile(run)
        return output

    monkeypatch.setattr(fast_path, "_check", then)


def test_a_cancel_racing_the_hand_over_wins(
    api: Any, budget: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_settings.cache_clear()
    create(api, HANGS, retention={"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"})

    def cancel(run: Any) -> None:
        queue, settings = wiring.task_queue(), get_settings()
        runs.cancel_run(wiring.repositories(), queue, settings, api.org, run.id)

    _racing(monkeypatch, cancel)
    answer = submit(api, STUCK)
    run = answer.get_json()["run"]
    assert (run["status"], run["steps"][0]["status"]) == ("CANCELED", "SKIPPED")
    assert launch_tasks(api) == []
    assert answer.get_json()["submission"]["content_stored"] is False
    root = Path(get_settings().storage_uri.removeprefix("file://"))
    assert [p for p in root.rglob("*") if p.is_file()] == []  # what it kept, dropped


def test_a_launch_racing_the_hand_over_wins(
    api: Any, budget: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(api, HANGS)

    def claim(run: Any) -> None:  # the reconcile pass's launch of the stalled run
        task = LaunchTask(run_id=run.id, step_order=0, attempt=1)
        launches._claim(wiring.repositories(), get_settings(), task, utcnow)

    _racing(monkeypatch, claim)
    run = submit(api, STUCK).get_json()["run"]
    assert (run["status"], run["steps"][0]["status"], run["steps"][0]["attempt"]) == (
        "RUNNING",
        "RUNNING",
        1,
    )
    assert launch_tasks(api) == []  # the claim's launch is the one; none queued here


def test_a_replay_of_a_handed_over_run_queues_no_second_launch(api: Any, budget: None) -> None:
    create(api, HANGS)
    first = assert_handed_over(submit(api, STUCK, **{"Idempotency-Key": "once"}))
    started = time.monotonic()
    again = submit(api, STUCK, **{"Idempotency-Key": "once"})
    assert time.monotonic() - started < BUDGET  # not run inline again
    assert again.get_json()["run"]["id"] == first["id"]
    assert [(t.step_order, t.attempt) for t in launch_tasks(api)] == [(0, 1)]
