"""Starts the real local stack (`python -m devstack.stack`, what `make up` runs) once
for the e2e tests and tears it down afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.metadata_server import fetch_token

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    env: dict[str, str]
    state: Path
    process: subprocess.Popen[str]

    @property
    def api(self) -> str:
        return self.env["ASSAY_API_URL"]

    def token(self, email: str, audience: str) -> str:
        return fetch_token(self.env["ASSAY_METADATA_URL"], email, audience)

    def executions(self) -> list[dict[str, Any]]:
        url = self.env["ASSAY_JOBS_ENDPOINT"] + "/_local/executions"
        return requests.get(url, timeout=10).json()["executions"]


def start_stack(state: Path, extra: dict[str, str] | None = None) -> LocalStack:
    env = {**os.environ, "ASSAY_LOCAL_DIR": str(state), **(extra or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.strip() == "ready":
            break
    else:
        raise RuntimeError("the stack did not start:\n" + "".join(lines))
    values = dict(
        line.split("=", 1) for line in (state / "stack.env").read_text().splitlines() if line
    )
    return LocalStack(values, state, process)


def stop_stack(stack: LocalStack) -> None:
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGTERM)
        stack.process.wait(timeout=60)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    instance = start_stack(tmp_path_factory.mktemp("stack"))
    saved = dict(os.environ)
    os.environ.update(instance.env)
    from shared import wiring

    wiring.reset()
    yield instance
    os.environ.clear()
    os.environ.update(saved)
    wiring.reset()
    stop_stack(instance)


# One org and key per module: the key's rate limit is per key, and a module that
# polls or fuzzes hard would otherwise refuse the next module's requests.
@pytest.fixture(scope="module")
def org(stack: LocalStack) -> tuple[str, dict[str, str]]:
    from shared import wiring
    from tests.factories import make_org

    org_id, key = make_org(wiring.repositories(), "e2e")
    return org_id, {"Authorization": f"Bearer {key}"}


def wait_for(
    stack: LocalStack, org_id: str, headers: dict[str, str], run_id: str, timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = requests.get(
            f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}", headers=headers, timeout=10
        )
        if answer.status_code == 429:
            # The suite's key shares its per-key rate limit with every test of the stack.
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            continue
        run = answer.json()
        if run["state"] == "COMPLETED":
            return run
        # Twice a second: a poll that spent the key's rate limit would refuse the next
        # test's submissions.
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not complete: {run}")


def wait_for_purge(
    stack: LocalStack, org_id: str, headers: dict[str, str], submission_id: str, timeout: float
) -> dict[str, Any]:
    """The submission once its content is purged (or as it stands at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        submission: dict[str, Any] = requests.get(
            f"{stack.api}/v1/orgs/{org_id}/submissions/{submission_id}",
            headers=headers,
            timeout=10,
        ).json()
        if submission.get("content_purged_at") or time.monotonic() > deadline:
            return submission
        time.sleep(0.1)
