"""Submit -> result for a small JSON file through the local stack, as a user sees it:
the job path (launch task, Cloud Run Jobs stand-in, validator process, callback) and the
fast path (the api function runs the check; `Prefer: wait` returns the finished run)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import requests

from bench.figures import Figure

ROOT = Path(__file__).resolve().parents[1]
FILE = (ROOT / "examples" / "invalid-person.json").read_bytes()


def _workflow(api: str, org: str, headers: dict[str, str], slug: str, execution: str) -> None:
    body = json.loads((ROOT / "examples" / "people.workflow.json").read_text())
    body.update(slug=slug, execution=execution)
    requests.post(
        f"{api}/v1/orgs/{org}/workflows", json=body, headers=headers, timeout=30
    ).raise_for_status()


def _one(api: str, org: str, headers: dict[str, str], slug: str, wait: bool) -> float:
    started = time.perf_counter()
    extra = {"Prefer": "wait=30"} if wait else {}
    answer = requests.post(
        f"{api}/v1/orgs/{org}/workflows/{slug}/runs",
        data=FILE,
        headers={**headers, **extra, "Content-Type": "application/json"},
        timeout=60,
    )
    answer.raise_for_status()
    run: dict[str, Any] = answer.json()["run"]
    while run["state"] != "COMPLETED":
        time.sleep(0.05)
        run = requests.get(
            f"{api}/v1/orgs/{org}/runs/{run['id']}", headers=headers, timeout=30
        ).json()
    assert run["result"] == "FAIL", run
    return time.perf_counter() - started


def measure(api: str, org: str, headers: dict[str, str], runs: int = 10) -> list[Figure]:
    _workflow(api, org, headers, "bench-job", "job")
    _workflow(api, org, headers, "bench-fast", "auto")
    _one(api, org, headers, "bench-job", False)  # warm: first job start, first inline fork
    _one(api, org, headers, "bench-fast", True)
    job = statistics.median(_one(api, org, headers, "bench-job", False) for _ in range(runs))
    fast = statistics.median(_one(api, org, headers, "bench-fast", True) for _ in range(runs))
    return [
        Figure(
            "submit -> result, job path, small JSON (median) / 2 s",
            job,
            2.0,
            1.0,
            note=f"median of {runs}: {job:.2f} s",
        ),
        Figure(
            "submit -> result, fast path / job path (medians)",
            fast,
            job,
            0.5,
            note=f"fast {fast * 1000:.0f} ms, job {job * 1000:.0f} ms",
        ),
    ]
