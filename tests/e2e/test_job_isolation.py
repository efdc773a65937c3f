"""On the local stack a validator job reaches only its own run's objects, through the
URLs its launch signed (decision record 0024): the envelope it is handed carries them,
and the stack's gate refuses one moved to another run's bundle or carrying another
object's signature."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

SCHEMA = {"type": "object", "required": ["name"]}


def _job_run(stack, org, slug: str, document: bytes) -> dict:
    org_id, headers = org
    api = f"{stack.api}/v1/orgs/{org_id}"
    answer = requests.post(
        f"{api}/workflows/{slug}/runs",
        data=document,
        headers=headers | {"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    run = wait_for(stack, org_id, headers, answer.json()["run"]["id"])
    assert run["steps"][0]["execution"] == "job"
    return run


def _envelope(stack, org_id: str, run_id: str) -> dict:
    root = Path(urlparse(stack.env["ASSAY_STORAGE_URI"]).path)
    return json.loads((root / "runs" / org_id / run_id / "steps/0/1/input.json").read_text())


def test_a_jobs_urls_reach_its_own_bundle_and_no_other_runs(stack, org):
    org_id, headers = org
    body = {
        "name": "Isolated",
        "slug": "isolated",
        "execution": "job",
        "steps": [{"name": "Shape", "validator": "json-schema", "config": {"schema": SCHEMA}}],
        "retention": {"submission": "STORE_1_DAY", "output": "STORE_1_DAY"},
    }
    created = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    mine = _job_run(stack, org, "isolated", b'{"name": "mine"}')
    theirs = _job_run(stack, org, "isolated", b'{"name": "theirs"}')
    assert (mine["result"], theirs["result"]) == ("PASS", "PASS")

    envelope = _envelope(stack, org_id, mine["id"])
    url = envelope["files"][0]["url"]
    assert url.startswith(stack.env["ASSAY_SIGNED_URL_ENDPOINT"])
    assert requests.get(url, timeout=10).content == b'{"name": "mine"}'
    their_url = _envelope(stack, org_id, theirs["id"])["files"][0]["url"]
    path, query = url.split("?", 1)
    moved = path.replace(mine["id"], theirs["id"]) + "?" + query
    grafted = path + "?" + their_url.split("?", 1)[1]
    for forged in (moved, grafted):
        answer = requests.get(forged, timeout=10)
        assert answer.status_code == 403 and "theirs" not in answer.text
    # The job was started with the signed URL; reconcile finds it by INPUT_OBJECT.
    (execution,) = [
        e for e in stack.executions() if f"/runs/{org_id}/{mine['id']}/" in e["input_uri"]
    ]
    env = {v["name"]: v["value"] for v in execution["template"]["containers"][0]["env"]}
    assert env["INPUT_URI"].startswith(stack.env["ASSAY_SIGNED_URL_ENDPOINT"])
    assert env["INPUT_OBJECT"].endswith(f"/runs/{org_id}/{mine['id']}/steps/0/1/input.json")


def test_a_job_cannot_sign_as_the_worker_on_the_local_stack(stack):
    """Google's IAM signs only for a caller holding signBlob on the account; the stack's
    stand-in only for the functions, which hold its secret (a job is not given it)."""
    worker = stack.env["ASSAY_JOB_URL_SIGNER"]
    url = f"{stack.env['ASSAY_IAM_ENDPOINT']}/v1/projects/-/serviceAccounts/{worker}:signBlob"
    answer = requests.post(url, json={"payload": "eA=="}, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["status"] == "PERMISSION_DENIED"
