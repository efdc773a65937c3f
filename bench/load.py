"""Load through the local stack: N submissions at concurrency C on the fast path and on
the job path. Every run must reach a terminal state, none lost (each answer's run is
found) and none duplicated (each Idempotency-Key made one run); the figures are
throughput and p50/p95/p99 of submit -> result, and the api process's peak memory."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.figures import Figure
from bench.latency import FILE, _workflow


def api_pids(port: str) -> list[int]:
    """The api function's processes on `port` and everything under them (the fork server
    and its checks)."""
    parents: dict[int, int] = {}
    roots = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(status.split("PPid:\t", 1)[1].split("\n", 1)[0])
        if b"--target" in command and b"api" in command and port.encode() in command:
            roots.append(pid)
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def _peak_rss_mb(pids: list[int]) -> float:
    """The sum of each process's peak resident memory (VmHWM)."""
    total = 0.0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def _one(api: str, org: str, headers: dict[str, str], slug: str, key: str) -> tuple[str, float]:
    started = time.perf_counter()
    answer = requests.post(
        f"{api}/v1/orgs/{org}/workflows/{slug}/runs",
        data=FILE,
        headers={
            **headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "Prefer": "wait=30",
        },
        timeout=120,
    )
    answer.raise_for_status()
    run: dict[str, Any] = answer.json()["run"]
    deadline = time.monotonic() + 300
    while run["state"] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
        run = requests.get(
            f"{api}/v1/orgs/{org}/runs/{run['id']}", headers=headers, timeout=60
        ).json()
    return (run["id"] if run["state"] == "COMPLETED" else ""), time.perf_counter() - started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _submit_all(
    api: str, org: str, headers: dict[str, str], slug: str, count: int, concurrency: int
) -> tuple[list[tuple[str, float]], float]:
    """Every submission's (run id or "", latency), and the wall time for all of them."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(lambda i: _one(api, org, headers, slug, f"{slug}-{i}"), range(count)))
    return done, time.perf_counter() - started


def _path_figures(
    path: str,
    count: int,
    concurrency: int,
    done: list[tuple[str, float]],
    elapsed: float,
    listed: int,
) -> list[Figure]:
    ids = [run_id for run_id, _ in done]
    latencies = [seconds for _, seconds in done]
    finished = sum(1 for run_id in ids if run_id)
    return [
        Figure(
            f"load, {path}: {count} at concurrency {concurrency}, runs ended / submitted",
            finished,
            count,
            1.0,
            direction="eq",
            unit="runs",
            note=(
                f"{count / elapsed:.1f}/s; p50 {statistics.median(latencies):.2f} s, "
                f"p95 {_percentile(latencies, 0.95):.2f} s, "
                f"p99 {_percentile(latencies, 0.99):.2f} s; {listed} runs stored"
            ),
        ),
        Figure(
            f"load, {path}: runs stored / submitted (none lost or twice)",
            listed,
            count,
            1.0,
            direction="eq",
            unit="runs",
            note=f"{len(set(ids))} distinct run ids answered",
        ),
    ]


def measure(
    api: str, org: str, headers: dict[str, str], count: int, concurrency: int
) -> list[Figure]:
    figures = []
    for path, execution in (("fast path", "auto"), ("job path", "job")):
        slug = f"load-{execution}"
        _workflow(api, org, headers, slug, execution)
        done, elapsed = _submit_all(api, org, headers, slug, count, concurrency)
        listed = _count_runs(api, org, headers, slug)
        figures.extend(_path_figures(path, count, concurrency, done, elapsed, listed))
    figures.append(
        Figure(
            "load: api peak memory / its 2 GiB limit",
            _peak_rss_mb(api_pids(api.rsplit(":", 1)[1])),
            2048,
            1.0,
            unit="MiB",
        )
    )
    return figures


def _count_runs(api: str, org: str, headers: dict[str, str], slug: str) -> int:
    total, token = 0, None
    while True:
        params = {"workflow": slug, "limit": "100", **({"page_token": token} if token else {})}
        page = requests.get(
            f"{api}/v1/orgs/{org}/runs", params=params, headers=headers, timeout=60
        ).json()
        total += len(page["items"])
        token = page.get("next_page_token")
        if not token:
            return total
