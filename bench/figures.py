"""A benchmark figure: what was measured, against what, and the budget as a ratio of
the two measured in the same run (absolute times are printed, never asserted: these
machines are noisy)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Figure:
    name: str
    # What was measured and what it is compared with, in seconds (or the unit named).
    measured: float
    baseline: float
    # measured / baseline must be at most this ("max"), at least it ("min"), or be it
    # exactly ("eq": counts, such as runs stored per run submitted).
    budget: float
    direction: str = "max"
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else float("inf")

    @property
    def holds(self) -> bool:
        if self.direction == "eq":
            return self.ratio == self.budget
        return self.ratio <= self.budget if self.direction == "max" else self.ratio >= self.budget

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3), "holds": self.holds}


def median_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
