"""Each deployed function's import at start, in a fresh interpreter, against
functions_framework plus its heaviest Google client alone (the floor any such function
pays). Clients load on first use (tests/unit/test_cold_imports.py holds each function
to what it uses), so a function's import is its own code, pydantic and Firestore's."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from bench.figures import Figure

# entry point -> (the handler it loads on its first request, its heaviest client)
FUNCTIONS = {
    "api": ("api", "google.cloud.firestore"),
    "launch": ("launch", "google.cloud.run_v2"),
    "callback": ("callback", "google.cloud.firestore"),
    "purge": ("purge", "google.cloud.firestore"),
    "retry": ("retry", "google.cloud.run_v2"),
    "on_upload": ("upload", "google.cloud.firestore"),
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


def measure(rounds: int = ROUNDS) -> list[Figure]:
    """Each pair alternates, round after round, and the figure is the ratio of their
    medians. On these machines an import's time moves with the host's load, by ±30%
    over seconds (the same import took 0.45 to 0.85 s in one minute), so the fastest
    of each side is whichever happened to fall in a quiet moment; alternating puts both
    sides through the same moments, and the median of each is its typical cost."""
    _compile_product()
    figures = []
    for name, (handler, client) in FUNCTIONS.items():
        ours, floor = [], []
        for _ in range(rounds):
            ours.append(_seconds(_function(handler)))
            floor.append(_seconds(_floor(client)))
        typical, base = statistics.median(ours), statistics.median(floor)
        figures.append(
            Figure(
                f"cold import: {name} / functions_framework + {client}",
                typical,
                base,
                1.2,
                note=(
                    f"{typical:.3f} / {base:.3f} s (medians of {rounds} each; fastest "
                    f"{min(ours):.3f} / {min(floor):.3f} s)"
                ),
            )
        )
    return figures
