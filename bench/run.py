"""`make bench`: every measurement, one table, bench/results.json.

Each figure is a ratio of two things measured in this same run, checked against its
budget; absolute times are printed beside it but never judged (these machines are
noisy). Exit code 1 when a budget does not hold."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench import callbacks, cold_start, fairness, json_engine, latency, load, purge
from bench.figures import Figure

ROOT = Path(__file__).resolve().parents[1]
# Issue 10: 1,000 submissions at concurrency 32 on each path (ASSAY_BENCH_LOAD to change).
LOAD_COUNT = int(os.environ.get("ASSAY_BENCH_LOAD", "1000"))
LOAD_CONCURRENCY = 32


def _stack_figures() -> list[Figure]:
    from devstack.demo import start_stack, stop_stack

    state = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    # The load figures send thousands of requests with one key, for one org: no rate
    # limit and no org limits here (the fairness figure measures those, on its own stack).
    os.environ.update(ASSAY_RATE_LIMIT_PER_MINUTE="10000000", ASSAY_RATE_LIMIT_BURST="1000000")
    os.environ.update(
        ASSAY_ORG_INLINE_CHECKS="1000",
        ASSAY_INLINE_CHECKS_PER_INSTANCE="1000",
        ASSAY_ORG_WAITS="1000",
        ASSAY_ORG_RUNS_IN_FLIGHT="10000",
    )
    stack = start_stack(state)
    try:
        env = dict(line.split("=", 1) for line in (state / "stack.env").read_text().split())
        os.environ.update(env)
        from shared import wiring
        from shared.api.auth.api_keys import issue_key
        from shared.domain.models import Organization
        from shared.platform.clock import utcnow
        from shared.platform.ids import new_id

        wiring.reset()
        repos = wiring.repositories()
        org = Organization(id=new_id(), name="bench", created_at=utcnow())
        repos.orgs.create(org)
        _, key = issue_key(repos, org.id, "bench")
        headers = {"Authorization": f"Bearer {key}"}
        api = env["ASSAY_API_URL"]
        return [
            *latency.measure(api, org.id, headers),
            *callbacks.measure(),
            *purge.measure(),
            *load.measure(api, org.id, headers, LOAD_COUNT, LOAD_CONCURRENCY),
        ]
    finally:
        stop_stack(stack)


def _table(figures: list[Figure]) -> str:
    width = max(len(f.name) for f in figures)
    lines = [f"{'figure'.ljust(width)}  ratio   budget   holds  measured / baseline"]
    for f in figures:
        sign = {"max": "<=", "min": ">=", "eq": "=="}[f.direction]
        shown = f.note or f"{f.measured:.3f} / {f.baseline:.3f} {f.unit}"
        lines.append(
            f"{f.name.ljust(width)}  {f.ratio:6.2f}  {sign}{f.budget:<6}  "
            f"{'yes' if f.holds else 'NO ':5}  {shown}"
        )
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    # Fairness first, on a stack of its own with its own limits (it leaves the environment
    # as it found it).
    figures = [
        *json_engine.measure(),
        *cold_start.measure(),
        *fairness.measure(),
        *_stack_figures(),
    ]
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "seconds": round(time.monotonic() - started, 1),
        "figures": [f.as_dict() for f in figures],
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(_table(figures))
    return 0 if all(f.holds for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
