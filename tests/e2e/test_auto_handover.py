"""`execution: auto` never changes a verdict, tried as a new user would on the real local
stack (its own, with a 1-second inline budget): a check that needs longer than the
budget but less than its timeout goes on as a job and PASSes; one that hangs goes on as a
job, is RUNNING with execution `job`, and its cancel stops the job's process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from tests.e2e.conftest import start_stack, stop_stack, wait_for
from tests.e2e.test_storage_backends import cli
from tests.e2e.test_timeouts import _processes_reading, processes_gone
from tests.integration.test_auto_handover import HANGS, SLOW_BUT_VALID, STUCK, _slow_name

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def budget_of_one_second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    stack = start_stack(tmp_path_factory.mktemp("handover"), {"ASSAY_FAST_PATH_SECONDS": "1"})
    try:
        org = json.loads(cli(stack, "admin", "create-org", "Hand-over", "--json").stdout)["id"]
        key = json.loads(cli(stack, "admin", "create-key", "--org", org, "--json").stdout)["key"]
        yield SimpleNamespace(stack=stack, org=org, headers={"Authorization": f"Bearer {key}"})
    finally:
        stop_stack(stack)


def _submit(b: Any, slug: str, pattern: str, data: bytes) -> dict[str, Any]:
    """A one-step `auto` workflow with the default timeout (600 s), and a file for it;
    the API's answer once the inline second has run out."""
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": pattern}}}
    body = {
        "name": slug,
        "slug": slug,
        "steps": [{"name": "Pattern", "validator": "json-schema", "config": {"schema": schema}}],
    }
    api = f"{b.stack.api}/v1/orgs/{b.org}"
    created = requests.post(f"{api}/workflows", json=body, headers=b.headers, timeout=30)
    assert created.status_code == 201 and created.json()["execution"] == "auto", created.text
    answer = requests.post(
        f"{api}/workflows/{slug}/runs",
        data=data,
        headers={**b.headers, "Content-Type": "application/json", "Prefer": "wait=1"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    run: dict[str, Any] = answer.json()["run"]
    assert (run["status"], run["execution"], run["steps"][0]["execution"]) == (
        "RUNNING",
        "job",
        "job",
    )
    return run


def test_a_check_longer_than_the_budget_passes_as_a_job(budget_of_one_second: Any) -> None:
    b = budget_of_one_second
    run = _submit(b, "slow-but-valid", SLOW_BUT_VALID, _slow_name(3.0))
    ended = wait_for(b.stack, b.org, b.headers, run["id"], timeout=120)
    assert (ended["status"], ended["result"]) == ("SUCCEEDED", "PASS")
    step = ended["steps"][0]
    assert (step["execution"], step["status"], step["attempt"]) == ("job", "PASSED", 1)
    assert step["execution_name"]


def test_a_hung_check_runs_on_as_a_job_until_cancelled(budget_of_one_second: Any) -> None:
    b = budget_of_one_second
    run = _submit(b, "hangs", HANGS, STUCK)
    prefix = f"{b.stack.env['ASSAY_STORAGE_URI']}/runs/{b.org}/{run['id']}/"
    deadline = time.monotonic() + 30
    while not _processes_reading(prefix) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_reading(prefix), "the job never started"
    api = f"{b.stack.api}/v1/orgs/{b.org}"
    running = requests.get(f"{api}/runs/{run['id']}", headers=b.headers, timeout=10).json()
    assert (running["status"], running["steps"][0]["status"]) == ("RUNNING", "RUNNING")
    assert running["steps"][0]["execution"] == "job"

    cancelled = requests.post(f"{api}/runs/{run['id']}/cancel", headers=b.headers, timeout=30)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["result"]) == ("CANCELED", "CANCELED")
    assert processes_gone(prefix, seconds=15)
