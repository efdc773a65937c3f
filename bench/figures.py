"""A benchmark figure: what was measured, against what, and the budget as a ratio of
the two measured in the same run (absolute times are printed, never asserted: these
machines are noisy)."""

from __future__ import annotations

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


def fastest_of(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Each function's fastest run of `repeat`, the functions taking turns: noise only
    ever slows a run, so the fastest is the closest to its cost, and taking turns shares
    whatever noise there is between them."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - started)
    return best
