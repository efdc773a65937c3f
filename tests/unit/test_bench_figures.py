"""The interval `make bench` gives beside a median of per-round ratios."""

from __future__ import annotations

import random

import pytest

from bench.figures import median_interval


@pytest.mark.parametrize(
    ("n", "ranks"),
    # The textbook order statistics of a 95% interval for a median (binomial, n and 1/2):
    # the j-th smallest and the j-th largest.
    [(6, (1, 6)), (10, (2, 9)), (21, (6, 16)), (31, (10, 22))],
)
def test_the_interval_is_the_binomial_order_statistics(n: int, ranks: tuple[int, int]) -> None:
    values = random.Random(n).sample(range(1000), n)
    ordered = sorted(values)
    assert median_interval(values) == (ordered[ranks[0] - 1], ordered[ranks[1] - 1])


def test_too_few_values_give_their_whole_range() -> None:
    # Five values: all five fall on one side of the median with probability 1/16.
    assert median_interval([5.0, 1.0, 3.0, 2.0, 4.0]) == (1.0, 5.0)


def test_a_lower_confidence_narrows_it() -> None:
    values = [float(v) for v in range(1, 22)]
    assert median_interval(values, confidence=0.5) == (9.0, 13.0)
