"""Cancel, re-run, late and foreign callbacks, and the one way a run ends: through the
API (functions-framework's test client) on the Firestore emulator, the Cloud Tasks
stand-in and the Cloud Run Jobs stand-in running real processes."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.job_runner import JobRunner
from shared import wiring
from shared.contract.envelopes import OutputStatus
from shared.domain.enums import CloudRunJobStatus, ReceiptState
from shared.domain.task_bodies import CancelTask, LaunchTask
from shared.persistence.firestore.documents import to_doc
from shared.platform.config import get_settings
from shared.services import launches
from shared.services.launches import _claim
from shared.services.purge import PurgeOutcome, purge_content
from tests.factories import workflow_body
from tests.integration.test_flows import callback, write_output

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner(serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    server = serve(
        JobRunner(tmp_path / "job-logs", job_prefix="test-", module_prefix="tests.jobs.")
    )
    monkeypatch.setenv("ASSAY_JOBS_ENDPOINT", server.url)
    wiring.reset()
    return server


def submitted(api: Any, retention: str = "STORE_7_DAYS", steps: int = 2) -> dict[str, Any]:
    body = workflow_body(steps=steps)
    body["retention"]["submission"] = retention
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=body).status_code == 201
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": "Ada"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()


def claim(run_id: str) -> Any:
    return _claim(
        wiring.repositories(),
        get_settings(),
        LaunchTask(run_id=run_id, step_order=0, attempt=1),
        lambda: datetime.now(UTC),
    )


def running_with_execution(api: Any, run_id: str, sleep: str = "60") -> str:
    """Claims step 0 and records a live execution on it, as launch does."""
    claimed = claim(run_id)
    execution = wiring.job_runner().run("test-sleeper", {"SLEEP": sleep})
    repos = wiring.repositories()
    run = repos.runs.get(api.org, run_id)
    run.steps[0].execution_name = execution.name
    run.steps[0].job_status = execution.status
    repos.document("runs", run_id).set(to_doc(run))
    return claimed.step.callback_id, execution.name


@pytest.mark.firestore
def test_cancel_a_running_run_cancels_its_execution_and_skips_the_rest(
    api: Any, runner: Any
) -> None:
    run_id = submitted(api)["run"]["id"]
    _, execution = running_with_execution(api, run_id)

    answer = api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["status"], body["result"]) == ("CANCELED", "CANCELED")
    assert [s["status"] for s in body["steps"]] == ["FAILED", "SKIPPED"]
    assert body["steps"][0]["job_status"] == "CANCELLED"

    # The api has no rights over jobs: it queued the cancel for the launch function.
    (stop,) = [t for t in api.tasks() if t.name.split("/")[-1].startswith("cancel-")]
    assert stop.url == get_settings().launch_url
    assert wiring.job_runner().get(execution).status is not CloudRunJobStatus.CANCELLED
    task = CancelTask.model_validate_json(stop.body)
    assert launches.cancel_execution(wiring.repositories(), wiring.job_runner(), task).outcome == (
        "cancelled"
    )
    assert wiring.job_runner().get(execution).status is CloudRunJobStatus.CANCELLED
    forged = task.model_copy(update={"execution_name": execution + "-other"})
    assert launches.cancel_execution(
        wiring.repositories(), wiring.job_runner(), forged
    ).outcome == ("no step of the run has that execution")
    stored = wiring.repositories().runs.get(api.org, run_id)
    assert stored.status == "CANCELED" and stored.ended_at is not None

    again = api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel")
    assert again.status_code == 200
    assert wiring.repositories().runs.get(api.org, run_id) == stored


def test_cancel_a_pending_run(api: Any) -> None:
    run_id = submitted(api)["run"]["id"]
    body = api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel").get_json()
    assert body["status"] == "CANCELED"
    assert [s["status"] for s in body["steps"]] == ["SKIPPED", "SKIPPED"]


def test_a_finished_run_cannot_be_cancelled(api: Any) -> None:
    run_id = submitted(api, steps=1)["run"]["id"]
    step = claim(run_id).step
    run = wiring.repositories().runs.get(api.org, run_id)
    callback(write_output(run, step, status=OutputStatus.SUCCESS, findings=0))

    answer = api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel")
    assert answer.status_code == 409
    assert answer.content_type == "application/problem+json"
    assert "already ended SUCCEEDED (PASS)" in answer.get_json()["detail"]
    assert wiring.repositories().runs.get(api.org, run_id).status == "SUCCEEDED"


def test_another_orgs_run_is_not_found(api: Any) -> None:
    from tests.factories import make_org

    run_id = submitted(api)["run"]["id"]
    _, other_key = make_org(wiring.repositories(), "other")
    answer = api.client.post(
        f"/v1/orgs/{api.org}/runs/{run_id}/cancel", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert answer.status_code == 404
    assert wiring.repositories().runs.get(api.org, run_id).status == "PENDING"


@pytest.mark.firestore
def test_a_late_callback_on_a_cancelled_run_writes_nothing(api: Any, runner: Any) -> None:
    run_id = submitted(api, retention="DO_NOT_STORE")["run"]["id"]
    callback_id, _ = running_with_execution(api, run_id)
    assert api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel").status_code == 200
    repos = wiring.repositories()
    run = repos.runs.get(api.org, run_id)
    step = run.steps[0]
    assert step.callback_id == callback_id

    outcome = callback(write_output(run, step, findings=4))
    assert outcome.late is True and outcome.replay is False
    assert repos.findings.count(run_id) == 0
    after = repos.runs.get(api.org, run_id)
    assert (after.status, after.summary.error_count) == ("CANCELED", 0)
    assert repos.receipts.find(callback_id) is None  # not even a receipt
    # The DO_NOT_STORE purge was scheduled in the transaction that cancelled the run.
    assert repos.purge_retries.find(after.submission_id) is not None


def test_results_written_by_a_delivery_that_lost_the_race_are_withdrawn(api: Any) -> None:
    from shared.services import callbacks

    run_id = submitted(api)["run"]["id"]
    step = claim(run_id).step
    repos = wiring.repositories()
    run = repos.runs.get(api.org, run_id)
    body = write_output(run, step, findings=5)
    output = callbacks._read_output(wiring.blob_store(), body, run, step)
    owner = callbacks._acquire(repos, get_settings(), body, run, step, lambda: datetime.now(UTC))
    callbacks.write_results(repos, run, step, output, lambda: datetime.now(UTC))
    assert repos.findings.count(run_id) == 5
    # The run is cancelled between the findings and the finalizing transaction.
    assert api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel").status_code == 200

    outcome = callbacks.record_step_result(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        body,
        (run, step, output, owner),
    )
    assert outcome.late is True
    assert repos.findings.count(run_id) == 0
    assert repos.runs.get(api.org, run_id).status == "CANCELED"
    assert repos.receipts.find(step.callback_id).state is ReceiptState.REFUSED


def test_a_done_callback_replayed_with_another_runs_id_touches_neither(api: Any) -> None:
    first = submitted(api, steps=1)["run"]["id"]
    step = claim(first).step
    repos = wiring.repositories()
    run = repos.runs.get(api.org, first)
    body = write_output(run, step, findings=2)
    callback(body)
    done = repos.runs.get(api.org, first)

    second = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": "Bo"}',
        headers={"Content-Type": "application/json"},
    ).get_json()["run"]["id"]
    claim(second)
    before = repos.runs.get(api.org, second)
    forged = body.model_copy(update={"run_id": second})
    outcome = callback(forged)
    assert outcome.replay is True and outcome.run.id == first
    assert repos.runs.get(api.org, second) == before
    assert repos.runs.get(api.org, first) == done
    assert repos.findings.count(second) == 0 and repos.findings.count(first) == 2


def test_rerun_makes_a_new_run_of_the_same_content(api: Any) -> None:
    created = submitted(api, steps=1)
    submission_id, first = created["submission"]["id"], created["run"]["id"]
    tasks_before = len(api.tasks())

    answer = api.post(
        f"/v1/orgs/{api.org}/submissions/{submission_id}/runs", json={"user": "grace"}
    )
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    run = body["run"]
    assert run["id"] != first and run["status"] == "PENDING"
    assert (run["submission_id"], run["user"], run["workflow_version"]) == (
        submission_id,
        "grace",
        1,
    )
    assert answer.headers["Location"] == f"/v1/orgs/{api.org}/runs/{run['id']}"
    submission = wiring.repositories().submissions.get(api.org, submission_id)
    assert submission.latest_run_id == run["id"] and submission.user is None
    assert len(api.tasks()) == tasks_before + 1

    by_key = api.post(f"/v1/orgs/{api.org}/submissions/{submission_id}/runs").get_json()
    assert by_key["run"]["user"].startswith("api-key:")


def test_rerun_of_purged_content_is_a_409(api: Any) -> None:
    created = submitted(api, steps=1)
    submission_id = created["submission"]["id"]
    cancelled = api.post(f"/v1/orgs/{api.org}/runs/{created['run']['id']}/cancel")
    assert cancelled.status_code == 200
    assert (
        purge_content(wiring.repositories(), wiring.blob_store(), get_settings(), submission_id)
        is PurgeOutcome.PURGED
    )

    answer = api.post(f"/v1/orgs/{api.org}/submissions/{submission_id}/runs")
    assert answer.status_code == 409
    assert "purged" in answer.get_json()["detail"]
    runs = wiring.repositories().runs.of_submissions([submission_id])[submission_id]
    assert len(runs) == 1


def test_a_rerun_holds_the_content_against_purge_until_it_ends(api: Any) -> None:
    created = submitted(api, steps=1)
    submission_id = created["submission"]["id"]
    api.post(f"/v1/orgs/{api.org}/runs/{created['run']['id']}/cancel")
    again = api.post(f"/v1/orgs/{api.org}/submissions/{submission_id}/runs").get_json()["run"]["id"]
    repos = wiring.repositories()
    assert (
        purge_content(repos, wiring.blob_store(), get_settings(), submission_id)
        is PurgeOutcome.DEFERRED
    )
    assert repos.submissions.get(api.org, submission_id).content_purged_at is None
    api.post(f"/v1/orgs/{api.org}/runs/{again}/cancel")
    assert (
        purge_content(repos, wiring.blob_store(), get_settings(), submission_id)
        is PurgeOutcome.PURGED
    )


def test_only_end_run_sets_a_terminal_status() -> None:
    """One way a run ends: `ValidationRun.finish` is called from finalize.end_run only."""
    callers = []
    for path in sorted((ROOT / "shared").rglob("*.py")) + sorted(
        (ROOT / "functions").rglob("*.py")
    ):
        for node in ast.walk(ast.parse(path.read_text())):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if call and node.func.attr == "finish":
                callers.append(path.relative_to(ROOT).as_posix())
    assert callers == ["shared/services/finalize.py"]
    text = (ROOT / "shared" / "services" / "finalize.py").read_text()
    assert text.count(".finish(") == 1
