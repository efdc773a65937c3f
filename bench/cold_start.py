"""Each deployed function's import at start, in a fresh interpreter, against
functions_framework plus its heaviest Google client alone (the floor any such function
pays). Clients load on first use (tests/unit/test_cold_imports.py holds each function
to what it uses), so a function's import is its own code, pydantic and Firestore's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.figures import Figure

# entry point -> (what it imports on its first request, its heaviest client)
FUNCTIONS = {
    "api": ("functions.handlers.api", "google.cloud.firestore"),
    "launch": ("functions.handlers.launch", "google.cloud.run_v2"),
    "callback": ("functions.handlers.callback", "google.cloud.firestore"),
    "purge": ("functions.handlers.purge", "google.cloud.firestore"),
    "retry": ("functions.handlers.retry", "google.cloud.run_v2"),
    "on_upload": ("functions.handlers.upload", "google.cloud.firestore"),
}
ROUNDS = 11
ROOT = Path(__file__).resolve().parents[1]


def _seconds(modules: list[str]) -> float:
    script = (
        "import time, importlib; t = time.perf_counter()\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(time.perf_counter() - t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def _compile_product() -> None:
    """Both sides import bytecode: pip compiled site-packages when it installed them, but
    a machine with PYTHONDONTWRITEBYTECODE=1 (these have it) never caches the product's
    own, and would compile it from source at every import (a deployed function's image
    is built once and keeps its bytecode)."""
    folders = [str(ROOT / name) for name in ("functions", "shared", "validators")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)


def measure(rounds: int = ROUNDS) -> list[Figure]:
    """Each pair alternates, round after round, and each side's fastest run is taken:
    an import is only ever slowed by noise (another process, a cold page cache), so the
    minimum is the closest to its cost, and alternating shares the noise out."""
    _compile_product()
    figures = []
    for name, (handler, client) in FUNCTIONS.items():
        ours, floor = [], []
        for _ in range(rounds):
            ours.append(_seconds(["functions_framework", "functions.main", handler]))
            floor.append(_seconds(["functions_framework", client]))
        figures.append(
            Figure(
                f"cold import: {name} / functions_framework + {client}",
                min(ours),
                min(floor),
                1.2,
                note=f"{min(ours):.3f} / {min(floor):.3f} s (fastest of {rounds} each)",
            )
        )
    return figures
