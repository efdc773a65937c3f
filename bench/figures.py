"""A benchmark figure: what was measured, against what, and the budget as a ratio of
the two measured in the same run (absolute times are printed, never asserted: these
machines are noisy)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from math import comb
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
    # Where the ratio's true value lies, at 95%, for a figure taken as a median of
    # per-round ratios (median_interval); None for the others.
    interval: tuple[float, float] | None = None

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


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median of what `values` sample: the j-th
    smallest and the j-th largest of them, where j is the largest rank such that fewer
    than j of the values fall below the median with probability at most (1 - confidence)
    / 2 (that count is binomial, n and 1/2, whatever the values' distribution). Noise
    here is neither normal nor symmetric, so no interval that assumes it would be honest.
    With too few values to reach `confidence`, it is their whole range."""
    ordered, n = sorted(values), len(values)
    tail, below, j = (1 - confidence) / 2, 0.0, 0
    while j < n and below + comb(n, j) / 2**n <= tail:
        below += comb(n, j) / 2**n
        j += 1
    if j == 0:
        return ordered[0], ordered[-1]
    return ordered[j - 1], ordered[n - j]


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
