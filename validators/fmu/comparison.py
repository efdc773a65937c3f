"""The simulation's result against a reference (validators/fmu/reference.py), in the
job's process on the numbers it parsed from the sandbox's CSV.

At each reference time the simulation is linearly interpolated between the samples on
either side; a time the simulation sampled is taken as sampled. At an event both sides
give the same time twice (the value just before, then just after): the first row of a
repeated reference time is compared with the simulation's first sample at that time
(its left limit), the others with its last (the right limit), and between two samples
the interpolation runs from the lower one's last value to the upper one's first. A value
passes when |v - ref| <= abs_tol + rel_tol * |ref|; a value that is not a number fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.contract.envelopes import OutputFinding
from shared.contract.severity import Severity
from validators.fmu.reference import TIME, TIME_SLACK, Reference, Tolerance

MISMATCH = "reference.mismatch"
OUT_OF_RANGE = "reference.out_of_range"


@dataclass
class Comparison:
    findings: list[OutputFinding] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    # The comparison CSV: time, then each variable's value, reference, error, tolerance.
    table: bytes | None = None


def interpolated(times: Any, values: Any, at: Any, left: Any) -> Any:
    """`values` sampled at `times` (never decreasing), read at `at` (within them): a
    sampled time gives its first sample where `left`, else its last; any other time the
    line between the samples either side."""
    import numpy as np

    n = len(times)
    last = np.searchsorted(times, at, side="right") - 1
    first = np.minimum(np.searchsorted(times, at, side="left"), n - 1)
    exact = times[first] == at
    sampled = np.where(left, values[first], values[last])
    below = np.clip(last, 0, max(n - 2, 0))
    above = np.minimum(below + 1, n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (at - times[below]) / (times[above] - times[below])
        between = values[below] + share * (values[above] - values[below])
    return np.where(exact, sampled, between)


def _in_range(result: Any, reference: Reference) -> tuple[Any, Any, list[OutputFinding]]:
    """The reference rows the simulation covers (their times clamped onto it within the
    slack), whether each is a left limit, and a finding for those it does not cover."""
    import numpy as np

    times = result[TIME]
    start, stop = float(times[0]), float(times[-1])
    slack = TIME_SLACK * max(1.0, abs(stop - start))
    wanted = np.asarray(reference.times, dtype=np.float64)
    covered = (wanted >= start - slack) & (wanted <= stop + slack)
    findings = []
    if not covered.all():
        first = float(wanted[~covered][0])
        findings.append(
            OutputFinding(
                severity=Severity.ERROR,
                code=OUT_OF_RANGE,
                message=(
                    f"{int((~covered).sum())} reference times lie outside the simulated "
                    f"{start:g} to {stop:g} (the first: {first:g}); they are not compared"
                ),
                path="/reference",
            )
        )
    # The first row of a repeated time is the value just before the event.
    left = np.append(wanted[1:] == wanted[:-1], False)
    return covered, left, findings


def compare(
    result: Any, reference: Reference, variables: list[str], tolerance: Tolerance
) -> Comparison:
    import numpy as np

    covered, left, findings = _in_range(result, reference)
    comparison = Comparison(findings=findings)
    times = result[TIME]
    at = np.clip(np.asarray(reference.times)[covered], times[0], times[-1])
    if not len(at):
        return comparison
    columns: dict[str, Any] = {TIME: np.asarray(reference.times)[covered]}
    for name in variables:
        value = interpolated(times, result[name], at, left[covered])
        expected = np.asarray(reference.columns[name])[covered]
        error = value - expected
        allowed = tolerance.abs_tol + tolerance.rel_tol * np.abs(expected)
        columns |= {
            name: value,
            f"{name}_reference": expected,
            f"{name}_error": error,
            f"{name}_tolerance": allowed,
        }
        comparison.metrics |= _errors(name, error, expected)
        failed = ~(np.abs(error) <= allowed)  # NaN fails
        if failed.any():
            comparison.findings.append(_mismatch(name, columns, failed, tolerance))
    comparison.table = _table(columns)
    return comparison


def _errors(name: str, error: Any, expected: Any) -> dict[str, float | None]:
    """The largest absolute and relative error (relative where the reference is not 0);
    None where there is none, or a value was not a number."""
    import numpy as np

    absolute = np.abs(error)
    nonzero = expected != 0
    relative = absolute[nonzero] / np.abs(expected[nonzero])
    finite = bool(np.isfinite(absolute).all())
    return {
        f"{name}_max_abs_error": float(absolute.max()) if finite else None,
        f"{name}_max_rel_error": float(relative.max()) if finite and len(relative) else None,
    }


def _mismatch(
    name: str, columns: dict[str, Any], failed: Any, tolerance: Tolerance
) -> OutputFinding:
    index = int(failed.argmax())
    value, expected = columns[name][index], columns[f"{name}_reference"][index]
    allowed = columns[f"{name}_tolerance"][index]
    hint = " (at a reference of 0 only abs_tol admits a difference)" if expected == 0 else ""
    return OutputFinding(
        severity=Severity.ERROR,
        code=MISMATCH,
        message=(
            f"{name}: at time {columns[TIME][index]:.10g} the simulation gives {value:.10g} "
            f"where the reference gives {expected:.10g}; the difference "
            f"{abs(value - expected):.3g} exceeds the tolerance {allowed:.3g}{hint} "
            f"({int(failed.sum())} of {len(failed)} reference times fail; "
            f"rel_tol {tolerance.rel_tol:g}, abs_tol {tolerance.abs_tol:g})"
        ),
        rule=name,
    )


def _table(columns: dict[str, Any]) -> bytes:
    """The columns as CSV, each number in its shortest form that reads back the same."""
    import numpy as np

    lines = [",".join(columns)]
    lines += [",".join(map(repr, row)) for row in np.column_stack(list(columns.values())).tolist()]
    return ("\n".join(lines) + "\n").encode()
