"""Each deployed function's import of everything it needs, in a fresh interpreter,
against functions_framework plus its heaviest Google client alone (the floor any such
function pays)."""

from __future__ import annotations

import statistics
import subprocess
import sys

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


def _seconds(modules: list[str], repeat: int = 5) -> float:
    script = (
        "import time, importlib; t = time.perf_counter()\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(time.perf_counter() - t)"
    )
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeat)
    ]
    return statistics.median(runs)


def measure() -> list[Figure]:
    figures = []
    for name, (handler, client) in FUNCTIONS.items():
        ours = _seconds(["functions_framework", "functions.main", handler])
        floor = _seconds(["functions_framework", client])
        figures.append(
            Figure(f"cold import: {name} / functions_framework + {client}", ours, floor, 1.2)
        )
    return figures
