"""The Cloud Tasks adapter against gcloud-tasks-emulator (PyPI, run from its own
virtualenv, tools/tasks-emulator.txt, because it pins protobuf 4): a submit through the
API queues a task that the emulator really delivers to a running `launch` function.

What the emulator cannot show, and where it is covered instead:
- it sends no OIDC token, so `launch` answers 401 here, which also shows the private
  function refuses an unauthenticated delivery. The token Cloud Tasks would attach
  (tasks identity, audience = launch URL) is tested against the dispatcher stand-in,
  which signs with the metadata stand-in's keys (test_tasks_adapter.py), and end to end
  on the local stack;
- it accepts a second task of the same name instead of answering ALREADY_EXISTS, so
  the named-task dedupe the adapter relies on is also tested against the dispatcher.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from devstack.net import free_port
from shared import wiring
from tests.factories import make_org, workflow_body
from tests.recording_proxy import RecordingProxy

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / ".tools" / "tasks-emulator" / "bin" / "gcloud-tasks-emulator"
TASKS = "tasks@assay-test.iam.gserviceaccount.com"


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"gcloud-tasks-emulator did not listen on {port}")


@pytest.fixture
def tasks_emulator(tmp_path: Path) -> Iterator[str]:
    assert EMULATOR.exists(), "run `make tools` (tools/tasks-emulator.txt) first"
    port = free_port()
    queue = "projects/assay-test/locations/us-central1/queues/launches"
    with (tmp_path / "tasks-emulator.log").open("wb") as log:
        process = subprocess.Popen(
            [str(EMULATOR), "start", "-p", str(port), "-d", queue, "-r", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(port, timeout=30)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(10)


def test_a_submitted_run_is_delivered_to_the_launch_function(
    repos: Any, serve: Any, tasks_emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    launch = serve(create_app(target="launch", source=str(ROOT / "functions" / "main.py")))
    proxy = RecordingProxy(launch.url)
    front = serve(proxy)
    monkeypatch.setenv("ASSAY_TASKS_EMULATOR_HOST", tasks_emulator)
    monkeypatch.setenv("ASSAY_LAUNCH_URL", front.url)
    monkeypatch.setenv("ASSAY_LAUNCH_INVOKERS", TASKS)
    monkeypatch.setenv("ASSAY_TASKS_SERVICE_ACCOUNT", TASKS)
    wiring.reset()
    org, key = make_org(wiring.repositories())
    api = create_app(target="api", source=str(ROOT / "functions" / "main.py")).test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert (
        api.post(f"/v1/orgs/{org}/workflows", json=workflow_body(), headers=auth).status_code == 201
    )

    answer = api.post(
        f"/v1/orgs/{org}/workflows/people/runs",
        data=b'{"name": "Ada"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    run_id = answer.get_json()["run"]["id"]

    deadline = time.monotonic() + 15
    while not proxy.answered("POST") and time.monotonic() < deadline:
        time.sleep(0.1)
    deliveries = proxy.answered("POST")
    assert deliveries, "the emulator delivered no task to launch, or it was not answered"
    delivery = deliveries[0]
    assert delivery.headers["Content-Type"] == "application/json"
    # The emulator names the queue in full where Cloud Tasks sends its short id.
    assert delivery.headers.get("X-Cloudtasks-Queuename", "").endswith("/queues/launches")
    assert json.loads(delivery.body)["run_id"] == run_id
    # No OIDC token from the emulator: the private function refuses the delivery.
    assert "Authorization" not in delivery.headers
    assert delivery.status == 401
    # Refused, the run is still waiting for an authenticated launch.
    run = wiring.repositories().runs.get(org, run_id)
    assert run is not None and run.status.value == "PENDING"
