"""DO_NOT_STORE on the real local stack: the content and every copy are gone within
seconds of the result, while the run and its findings stay readable."""

import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.e2e.conftest import wait_for
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e

LARGE_INVALID = b'{"name": "", "pad": "' + b"x" * (70 * 1024) + b'"}'


def storage_root(stack) -> Path:
    return Path(urlparse(stack.env["ASSAY_STORAGE_URI"]).path)


def measure_window(stack, org_id, headers, data) -> tuple[float, dict, dict]:
    """Submits `data`, waits for the result, then for the purge; returns the seconds
    from the result being written (ended_at) to the content being gone."""
    response = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/secret/runs",
        data=data,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    run = wait_for(stack, org_id, headers, response.json()["run"]["id"])
    submission_id = run["submission_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        submission = requests.get(
            f"{stack.api}/v1/orgs/{org_id}/submissions/{submission_id}", headers=headers, timeout=10
        ).json()
        if submission["content_purged_at"]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the content was not purged within 30 s")
    window = (
        datetime.fromisoformat(submission["content_purged_at"])
        - datetime.fromisoformat(run["ended_at"])
    ).total_seconds()
    return window, run, submission


def test_do_not_store_content_is_gone_within_seconds(stack, org):
    org_id, headers = org
    body = workflow_body(
        "secret", retention={"submission": "DO_NOT_STORE", "output": "DO_NOT_STORE"}
    )
    assert (
        requests.post(
            f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
        ).status_code
        == 201
    )
    window, run, submission = measure_window(stack, org_id, headers, LARGE_INVALID)
    print(f"\nDO_NOT_STORE window (result written -> content gone): {window:.3f} s")
    assert 0 <= window < 10
    root = storage_root(stack)
    assert not (root / "submissions" / org_id / submission["id"]).exists() or not any(
        (root / "submissions" / org_id / submission["id"]).iterdir()
    )
    assert not (root / "runs" / org_id / run["id"]).exists()
    assert submission["content_stored"] is False
    assert submission["checksum_sha256"] and submission["size_bytes"] == len(LARGE_INVALID)
    assert submission["expires_at"] is None and submission["retention_policy"] == "DO_NOT_STORE"
    # The run and its findings stay readable.
    again = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run['id']}", headers=headers, timeout=10
    ).json()
    assert (again["result"], again["submission"]["id"]) == ("FAIL", submission["id"])
    assert again["output_purged_at"] is not None
    found = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run['id']}/findings", headers=headers, timeout=10
    ).json()["items"]
    assert [f["path"] for f in found] == ["/name"]
    # The safety-net record was removed by the purge.
    from shared import wiring

    assert (
        not wiring.repositories()
        .db.collection("purge_retries")
        .document(submission["id"])
        .get()
        .exists
    )


def test_purge_and_retry_accept_only_their_schedulers(stack):
    purge_url, retry_url = stack.env["ASSAY_PURGE_URL"], stack.env["ASSAY_RETRY_URL"]
    scheduler = stack.env["ASSAY_SCHEDULER_SERVICE_ACCOUNT"]
    validator = stack.env["ASSAY_VALIDATOR_SERVICE_ACCOUNT"]
    assert requests.post(purge_url, json={}, timeout=30).status_code == 401
    foreign = stack.token(validator, purge_url)
    assert (
        requests.post(
            purge_url, json={}, headers={"Authorization": f"Bearer {foreign}"}, timeout=30
        ).status_code
        == 403
    )
    token = stack.token(scheduler, purge_url)
    answer = requests.post(
        purge_url,
        json={"batch_size": 5, "max_batches": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert {"purged", "failed", "deferred", "batches", "stopped_early"} <= set(answer.json())
    bad = requests.post(
        purge_url, json={"batch_size": 0}, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert bad.status_code == 422 and "batch_size" in bad.json()["detail"]
    retry_token = stack.token(scheduler, retry_url)
    answer = requests.post(
        retry_url, json={}, headers={"Authorization": f"Bearer {retry_token}"}, timeout=60
    )
    assert answer.status_code == 200 and "purged" in answer.json()
    reconciled = answer.json()["reconcile"]
    assert set(reconciled) == {"looked_at", "healed", "stopped_early", "errors"}
    assert reconciled["errors"] == []
