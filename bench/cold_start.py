"""Each deployed function's import at start, in a fresh interpreter, against
functions_framework plus its heaviest Google client alone (the floor any such function
pays). Clients load on first use (tests/unit/test_cold_imports.py holds each function
to what it uses), so a function's import is its own code, pydantic and Firestore's."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from bench.figures import Figure, median_interval

# entry point -> (the handler it loads on its first request, its heaviest client), in
# runs of the same client, whose neighbours share a floor run (_round)
FUNCTIONS = {
    "api": ("api", "google.cloud.firestore"),
    "callback": ("callback", "google.cloud.firestore"),
    "purge": ("purge", "google.cloud.firestore"),
    "on_upload": ("upload", "google.cloud.firestore"),
    "console": ("console", "google.cloud.firestore"),
    "launch": ("launch", "google.cloud.run_v2"),
    "retry": ("retry", "google.cloud.run_v2"),
}
ROUNDS = 21
ROOT = Path(__file__).resolve().parents[1]


def _seconds(script: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def _function(handler: str) -> str:
    """A deployed function's start: the framework loads main.py from the function's
    source folder, and the first request loads its handler through main's loader."""
    return (
        f"import sys; sys.path.insert(0, {str(ROOT / 'functions')!r})\n"
        "import time, importlib; t = time.perf_counter()\n"
        "import functions_framework\n"
        f"importlib.import_module('main').load_handler({handler!r})\n"
        # The first allocation after: whatever collection the load left due runs now,
        # as it would at the start of that first request, and is counted.
        "request = [{}]\n"
        "print(time.perf_counter() - t)"
    )


def _floor(client: str) -> str:
    return (
        "import time; t = time.perf_counter()\n"
        f"import functions_framework, {client}\n"
        "print(time.perf_counter() - t)"
    )


def _compile_product() -> None:
    """Both sides import bytecode: pip compiled site-packages when it installed them, but
    a machine with PYTHONDONTWRITEBYTECODE=1 (these have it) never caches the product's
    own, and would compile it from source at every import (a deployed function's image
    is built once and keeps its bytecode)."""
    folders = [str(ROOT / name) for name in ("functions", "shared", "validators")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)


def _round(samples: dict[str, list[tuple[float, float]]]) -> None:
    """One run of each function, each between two runs of its floor: the functions
    sharing a client share the floor run between them."""
    previous: tuple[str, float] | None = None
    for name, (handler, client) in FUNCTIONS.items():
        if previous is None or previous[0] != client:
            previous = (client, _seconds(_floor(client)))
        ours = _seconds(_function(handler))
        after = _seconds(_floor(client))
        samples[name].append((ours, (previous[1] + after) / 2))
        previous = (client, after)


def measure(rounds: int = ROUNDS) -> list[Figure]:
    """A function's figure is the median, over the rounds, of its run against the mean
    of the floor runs just before and after it. On these machines an import's time moves
    with the host's load by +-30% over seconds (the same import took 0.45 to 0.85 s in
    one minute), in stretches longer than a run: so each run is set against the floor
    measured in the same moment, and the median of those ratios is the typical one.
    Medians of each side taken apart let a slow stretch that fell on one side more than
    the other move the figure."""
    _compile_product()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in FUNCTIONS}
    for _ in range(rounds):
        _round(samples)
    figures = []
    for name, (_, client) in FUNCTIONS.items():
        ratios = [run / floor for run, floor in samples[name]]
        ratio = statistics.median(ratios)
        typical = statistics.median(run for run, _ in samples[name])
        floor = statistics.median(floor for _, floor in samples[name])
        low, high = median_interval(ratios)
        figures.append(
            Figure(
                f"cold import: {name} / functions_framework + {client}",
                typical,
                typical / ratio,
                1.2,
                note=(
                    f"{typical:.3f} s, floor {floor:.3f} s (medians of {rounds}); the ratio is "
                    f"the median of each run / its floor, 95% interval {low:.2f}-{high:.2f}"
                ),
                interval=(round(low, 3), round(high, 3)),
            )
        )
    return figures
