"""Measures, on the local stack, how long DO_NOT_STORE content outlives its result
(run ended_at -> submission content_purged_at) and the submit -> result latency.

    .venv/bin/python bench/purge_window.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

from devstack.demo import start_stack, stop_stack


def _connect(state: Path) -> dict[str, str]:
    """The stack's settings, put in this process's environment so shared.wiring reaches
    the same emulators the stack uses."""
    import os

    env = dict(line.split("=", 1) for line in (state / "stack.env").read_text().split())
    os.environ.update(env)
    return env


def _secret_workflow(api: str) -> tuple[str, dict[str, str]]:
    """A fresh org with a key, and a DO_NOT_STORE workflow in it: the org's id and the
    headers that speak for it."""
    # Imported only once _connect has set the environment the settings are read from.
    from shared import wiring
    from shared.api.auth.api_keys import issue_key
    from shared.domain.models import Organization
    from shared.platform.clock import utcnow
    from shared.platform.ids import new_id

    repos = wiring.repositories()
    org = Organization(id=new_id(), name="bench", created_at=utcnow())
    repos.orgs.create(org)
    _, key = issue_key(repos, org.id, "bench")
    headers = {"Authorization": f"Bearer {key}"}
    workflow = json.loads(Path("examples/people.workflow.json").read_text())
    workflow.update(
        slug="secret", retention={"submission": "DO_NOT_STORE", "output": "DO_NOT_STORE"}
    )
    requests.post(
        f"{api}/v1/orgs/{org.id}/workflows", json=workflow, headers=headers, timeout=30
    ).raise_for_status()
    return org.id, headers


def _one_run(api: str, org: str, headers: dict[str, str]) -> tuple[float, float]:
    """One submission: its purge window and its submit -> result latency, in seconds."""
    began = time.monotonic()
    answer = requests.post(
        f"{api}/v1/orgs/{org}/workflows/secret/runs",
        data=Path("examples/invalid-person.json").read_bytes(),
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    ).json()
    run_url = f"{api}/v1/orgs/{org}/runs/{answer['run']['id']}"
    while (run := requests.get(run_url, headers=headers, timeout=10).json())[
        "state"
    ] != "COMPLETED":
        time.sleep(0.02)
    latency = time.monotonic() - began
    sub_url = f"{api}/v1/orgs/{org}/submissions/{answer['submission']['id']}"
    while not (sub := requests.get(sub_url, headers=headers, timeout=10).json())[
        "content_purged_at"
    ]:
        time.sleep(0.02)
    window = (
        datetime.fromisoformat(sub["content_purged_at"]) - datetime.fromisoformat(run["ended_at"])
    ).total_seconds()
    return window, latency


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):.3f} s, p95 {p95:.3f} s, max {ordered[-1]:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    stack = start_stack(state)
    try:
        api = _connect(state)["ASSAY_API_URL"]
        org, headers = _secret_workflow(api)
        windows, latencies = [], []
        for _ in range(args.runs):
            window, latency = _one_run(api, org, headers)
            windows.append(window)
            latencies.append(latency)
        print(f"runs: {args.runs}")
        print(f"DO_NOT_STORE window (result written -> content gone): {_summary(windows)}")
        print(f"submit -> result latency: {_summary(latencies)}")
    finally:
        stop_stack(stack)


if __name__ == "__main__":
    main()
