"""Submit → launch → validate → callback → result, through the real local stack."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack import units
from devstack.metadata_server import TokenMinter
from devstack.stack import STAND_INS
from tests.e2e.conftest import ROOT, start_stack, stop_stack, wait_for
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e

VALID = b'{"name": "Ada", "email": "ada@example.com", "age": 36}'
INVALID = b'{"name": "", "email": "nope", "age": -1}'


@pytest.fixture(scope="module")
def workflows(stack, org):
    org_id, headers = org
    for body in (workflow_body("people"), workflow_body("two-step", steps=2)):
        response = requests.post(
            f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
        )
        assert response.status_code == 201, response.text
    return org_id, headers


def submit(stack, org_id, headers, data, slug="people", **extra):
    response = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/{slug}/runs",
        data=data,
        headers={**headers, "Content-Type": "application/json", **extra},
        timeout=30,
    )
    return response


def findings(stack, org_id, headers, run_id):
    return requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}/findings?limit=1000",
        headers=headers,
        timeout=10,
    ).json()["items"]


def test_a_valid_file_passes(stack, workflows):
    org_id, headers = workflows
    response = submit(stack, org_id, headers, VALID)
    assert response.status_code == 202
    run = wait_for(stack, org_id, headers, response.json()["run"]["id"])
    assert (run["status"], run["state"], run["result"]) == ("SUCCEEDED", "COMPLETED", "PASS")
    assert run["summary"]["error_count"] == 0
    assert run["steps"][0]["status"] == "PASSED"
    assert run["steps"][0]["job_status"] == "SUCCEEDED"
    assert run["steps"][0]["execution_name"].startswith(
        f"projects/{stack.env['GOOGLE_CLOUD_PROJECT']}/locations/"
    )
    assert run["duration_ms"] >= 0 and run["ended_at"]
    assert [
        f for f in findings(stack, org_id, headers, run["id"]) if f["severity"] == "ERROR"
    ] == []


def test_an_invalid_file_fails_with_pointed_findings(stack, workflows):
    org_id, headers = workflows
    run = wait_for(
        stack, org_id, headers, submit(stack, org_id, headers, INVALID).json()["run"]["id"]
    )
    assert (run["status"], run["result"], run["error_category"]) == (
        "FAILED",
        "FAIL",
        "VALIDATION_FAILED",
    )
    items = findings(stack, org_id, headers, run["id"])
    assert {f["path"] for f in items} == {"/name", "/email", "/age"}
    assert run["summary"] == {
        "total": 3,
        "error_count": 3,
        "warning_count": 0,
        "info_count": 0,
        "unstored_count": 0,
    }


def test_a_file_that_is_not_json_is_one_finding_with_line_and_column(stack, workflows):
    org_id, headers = workflows
    run_id = submit(stack, org_id, headers, b'{\n "name": oops\n}').json()["run"]["id"]
    run = wait_for(stack, org_id, headers, run_id)
    [finding] = findings(stack, org_id, headers, run_id)
    assert (run["result"], finding["code"], finding["line"], finding["column"]) == (
        "FAIL",
        "invalid_json",
        2,
        10,
    )


def test_a_failed_first_step_skips_the_second(stack, workflows):
    org_id, headers = workflows
    run_id = submit(stack, org_id, headers, INVALID, slug="two-step").json()["run"]["id"]
    run = wait_for(stack, org_id, headers, run_id)
    assert [s["status"] for s in run["steps"]] == ["FAILED", "SKIPPED"]
    assert run["result"] == "FAIL"


def test_both_steps_run_in_order_when_the_first_passes(stack, workflows):
    org_id, headers = workflows
    run_id = submit(stack, org_id, headers, VALID, slug="two-step").json()["run"]["id"]
    run = wait_for(stack, org_id, headers, run_id)
    assert [s["status"] for s in run["steps"]] == ["PASSED", "PASSED"]
    assert run["steps"][0]["ended_at"] <= run["steps"][1]["started_at"]
    # Each step's time, as the run recorded it, in the order things happened.
    for step in run["steps"]:
        t = step["timings"]
        order = [
            t["queued_at"],
            step["started_at"],
            t["check_started_at"],
            t["check_ended_at"],
            t["called_back_at"],
            t["finalized_at"],
        ]
        assert all(order) and [_at(x) for x in order] == sorted(_at(x) for x in order), step
    assert run["steps"][1]["timings"]["queued_at"] == run["steps"][0]["timings"]["finalized_at"]


def _at(text):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stored_step(run_id, order=0):
    from shared import wiring

    return wiring.repositories().runs.find(run_id).steps[order]


def callback_body(stack, org_id, run_id, step):
    output = (
        f"{stack.env['ASSAY_STORAGE_URI']}/runs/{org_id}/{run_id}/steps/"
        f"{step.order}/{step.attempt}/output.json"
    )
    return {
        "schema_version": "assay.callback/1",
        "run_id": run_id,
        "callback_id": step.callback_id,
        "status": "failed_validation",
        "result_uri": output,
    }


def test_a_repeated_callback_is_a_replay_and_adds_no_findings(stack, workflows):
    org_id, headers = workflows
    run_id = submit(stack, org_id, headers, INVALID).json()["run"]["id"]
    before = wait_for(stack, org_id, headers, run_id)
    count = len(findings(stack, org_id, headers, run_id))
    body = callback_body(stack, org_id, run_id, stored_step(run_id))
    url = stack.env["ASSAY_CALLBACK_URL"]
    token = stack.token(stack.env["ASSAY_VALIDATOR_SERVICE_ACCOUNT"], url)

    def deliver(_):
        return requests.post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(deliver, range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["replay"] is True for a in answers)
    assert len(findings(stack, org_id, headers, run_id)) == count == 3
    after = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}", headers=headers, timeout=10
    ).json()
    assert after == before


def test_forged_or_foreign_callback_tokens_are_refused(stack, workflows):
    org_id, headers = workflows
    run_id = submit(stack, org_id, headers, INVALID).json()["run"]["id"]
    before = wait_for(stack, org_id, headers, run_id)
    body = callback_body(stack, org_id, run_id, stored_step(run_id))
    body["callback_id"] = "attacker-chosen"
    url = stack.env["ASSAY_CALLBACK_URL"]
    validator = stack.env["ASSAY_VALIDATOR_SERVICE_ACCOUNT"]
    cases = {
        "another key": TokenMinter().mint(validator, url),
        "not on the allow-list": stack.token(stack.env["ASSAY_TASKS_SERVICE_ACCOUNT"], url),
        "wrong audience": stack.token(validator, stack.env["ASSAY_LAUNCH_URL"]),
    }
    for case, token in cases.items():
        answer = requests.post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert answer.status_code in (401, 403), case
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert requests.post(url, json=body, timeout=30).status_code == 401
    after = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}", headers=headers, timeout=10
    ).json()
    assert after == before


def test_launch_refuses_callers_other_than_the_queue(stack, workflows):
    url = stack.env["ASSAY_LAUNCH_URL"]
    token = stack.token(stack.env["ASSAY_VALIDATOR_SERVICE_ACCOUNT"], url)
    body = {"run_id": "x", "step_order": 0, "attempt": 1}
    assert requests.post(url, json=body, timeout=30).status_code == 401
    answer = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 403


def test_concurrent_duplicate_launches_start_one_execution(stack, workflows):
    org_id, headers = workflows
    run_id = submit(stack, org_id, headers, VALID).json()["run"]["id"]
    url = stack.env["ASSAY_LAUNCH_URL"]
    token = stack.token(stack.env["ASSAY_TASKS_SERVICE_ACCOUNT"], url)
    task = {"run_id": run_id, "step_order": 0, "attempt": 1}

    def duplicate(_):
        return requests.post(
            url,
            json=task,
            headers={"Authorization": f"Bearer {token}", "X-CloudTasks-TaskName": "dup"},
            timeout=60,
        )

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(duplicate, range(6)))
    # Each duplicate is either a no-op 2xx or told to retry (409/503) while one launches.
    assert {a.status_code for a in answers} <= {200, 409, 503}
    run = wait_for(stack, org_id, headers, run_id)
    assert run["result"] == "PASS"
    mine = [e for e in stack.executions() if f"/runs/{org_id}/{run_id}/" in e["input_uri"]]
    assert len(mine) == 1
    assert run["steps"][0]["attempt"] == 1


def test_api_errors_over_http(stack, workflows):
    org_id, headers = workflows
    base = f"{stack.api}/v1/orgs/{org_id}"
    assert requests.get(f"{base}/runs", timeout=10).status_code == 401
    assert (
        requests.get(
            f"{base}/runs", headers={"Authorization": "Bearer assay_x_y"}, timeout=10
        ).status_code
        == 401
    )
    assert requests.get(f"{base}/runs/missing", headers=headers, timeout=10).status_code == 404
    assert (
        requests.get(f"{stack.api}/v1/orgs/other-org/runs", headers=headers, timeout=10).status_code
        == 404
    )
    huge = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    too_big = submit(stack, org_id, headers, huge)
    assert too_big.status_code == 413
    assert "10485760" in too_big.json()["detail"]
    xml = submit(stack, org_id, headers, b"<a/>", **{"Content-Type": "application/xml"})
    assert xml.status_code == 415
    assert xml.headers["Content-Type"].startswith("application/problem+json")


def test_the_stack_refuses_to_start_without_java(tmp_path):
    env = {
        "PATH": os.path.dirname(sys.executable),
        "ASSAY_LOCAL_DIR": str(tmp_path),
        "ASSAY_FIRESTORE_EMULATOR_JAR": str(tmp_path / "none.jar"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "devstack.stack"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Java" in done.stderr and "install" in done.stderr


def test_the_stack_ticks_its_schedules_and_stops_every_process_on_sigterm(tmp_path):
    other = start_stack(tmp_path, {"ASSAY_SCHEDULER_EVERY": "0.5"})
    try:
        log = tmp_path / "logs" / "scheduler.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if "purge-expired -> 200" in text and "process-purge-retries -> 200" in text:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the scheduler did not tick both functions: {text[-2000:]}")
        pids = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(other.process.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        functions = units.load().functions
        notifiers = sum(1 for f in functions if f.trigger == "storage-finalized")
        # each function, its notifier, the stand-ins (metadata server, job runner,
        # dispatcher, scheduler, signed-URL gate), the Firestore emulator
        assert len(pids) == len(functions) + notifiers + len(STAND_INS) + 1
        os.killpg(other.process.pid, signal.SIGTERM)
        assert other.process.wait(timeout=60) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(other.env["ASSAY_API_URL"] + "/healthz", timeout=2)
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
        assert alive == []
        assert not (tmp_path / "stack.env").exists()
        for key in (
            "ASSAY_API_URL",
            "ASSAY_LAUNCH_URL",
            "ASSAY_CALLBACK_URL",
            "FIRESTORE_EMULATOR_HOST",
            "GOOGLE_CLOUD_PROJECT",
            "GCE_METADATA_HOST",
        ):
            assert other.env[key]
    finally:
        stop_stack(other)  # a failed assertion must not leave a stack running
