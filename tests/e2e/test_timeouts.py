"""A validator stuck on a user's catastrophic regex, on the real local stack: the step's
timeout ends the run TIMED_OUT, the stuck process is gone, later steps are SKIPPED, and
DO_NOT_STORE content is purged."""

import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import wait_for, wait_for_purge
from tests.e2e.test_retention import storage_root
from validators.runtime import own_deadline

pytestmark = pytest.mark.e2e

CATASTROPHIC = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}


def _processes_reading(input_prefix: str) -> list[str]:
    """Pids whose environment names an INPUT_URI under `input_prefix` (its storage URI,
    or the signed URL of an object under the same run's folder)."""
    run_folder = ("/runs/" + input_prefix.split("/runs/", 1)[1]).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        values = [v for v in environ.split(b"\0") if v.startswith(b"INPUT_URI=")]
        if any(run_folder in v.split(b"?", 1)[0] for v in values):
            found.append(entry.name)
    return found


def processes_gone(input_prefix: str, seconds: float = 5.0) -> bool:
    """No process reads under `input_prefix` any more. The job exits just after its
    callback answers, so it may outlive the run's end by a moment; a stuck check killed
    at the deadline would not."""
    deadline = time.monotonic() + seconds
    while _processes_reading(input_prefix) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _processes_reading(input_prefix)


@pytest.mark.parametrize("execution", ["job", "inline"])
def test_a_hung_validator_times_out_and_its_content_is_purged(stack, org, execution):
    org_id, headers = org
    body = {
        "name": "Regex trap",
        "slug": f"regex-trap-{execution}",
        "execution": execution,
        "steps": [
            {
                "name": "Pattern",
                "validator": "json-schema",
                "config": {"schema": CATASTROPHIC},
                "timeout_seconds": 5,
            },
            {"name": "Never", "validator": "json-schema", "config": {"schema": {"type": "object"}}},
        ],
        "retention": {"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"},
    }
    created = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    started = time.monotonic()
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/regex-trap-{execution}/runs",
        data=b'{"name": "' + b"a" * 48 + b'!"}',
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    run = wait_for(stack, org_id, headers, answer.json()["run"]["id"], timeout=60)
    elapsed = time.monotonic() - started

    assert (run["status"], run["result"], run["error_category"]) == (
        "TIMED_OUT",
        "TIMED_OUT",
        "TIMEOUT",
    )
    # Not before the check's own deadline (the job stops it early enough to write its
    # output and call back within the step's 5 s), and well before anything else would.
    assert own_deadline(5) <= elapsed < 30, elapsed
    assert [s["status"] for s in run["steps"]] == ["FAILED", "SKIPPED"]
    assert run["steps"][0]["execution"] == execution
    assert "did not finish within" in run["steps"][0]["error"]
    prefix = f"{stack.env['ASSAY_STORAGE_URI']}/runs/{org_id}/{run['id']}/"
    assert processes_gone(prefix)

    submission = wait_for_purge(stack, org_id, headers, run["submission_id"], 30)
    assert submission["content_stored"] is False and submission["content_purged_at"]
    assert not (storage_root(stack) / "runs" / org_id / run["id"]).exists()


def test_cancelling_a_running_job_stops_its_process_through_the_launch_function(stack, org):
    org_id, headers = org
    body = {
        "name": "Regex trap to cancel",
        "slug": "regex-trap-cancel",
        "execution": "job",
        "steps": [
            {
                "name": "Pattern",
                "validator": "json-schema",
                "config": {"schema": CATASTROPHIC},
                "timeout_seconds": 120,
            }
        ],
        "retention": {"submission": "STORE_1_DAY", "output": "STORE_1_DAY"},
    }
    api = f"{stack.api}/v1/orgs/{org_id}"
    assert requests.post(f"{api}/workflows", json=body, headers=headers, timeout=30).ok
    run_id = requests.post(
        f"{api}/workflows/regex-trap-cancel/runs",
        data=b'{"name": "' + b"a" * 48 + b'!"}',
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    ).json()["run"]["id"]
    prefix = f"{stack.env['ASSAY_STORAGE_URI']}/runs/{org_id}/{run_id}/"
    deadline = time.monotonic() + 30
    while not _processes_reading(prefix) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_reading(prefix), "the job never started"

    cancelled = requests.post(f"{api}/runs/{run_id}/cancel", headers=headers, timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELED"
    # The api queued the cancel; the launch function, whose identity may, stopped the job.
    assert processes_gone(prefix, seconds=15)
    # INPUT_URI is the signed URL of the attempt's input.json, under the run's folder.
    run_folder = f"/runs/{org_id}/{run_id}/"
    (execution,) = [e for e in stack.executions() if run_folder in e["input_uri"]]
    assert execution["cancelledCount"] == 1
