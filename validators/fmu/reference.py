"""A reference for an FMU's results, as the FMI Cross-Check rules give one: a CSV whose
header row names `time` and one column per variable (`"time","h","v"`), a row per
reference time. This module reads it (pure Python: the api checks it when a workflow is
saved, the job again before comparing) and says which variables a step compares; the
comparison itself, on the simulation's numbers, is validators/fmu/comparison.py.

The reference is the workflow author's resource, not the submitted file, but it is read
as untrusted all the same: every cell a finite number, times never decreasing, rows
capped; anything else is a ReferenceProblem naming the row and column, never a crash.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

TIME: Final = "time"
MAX_REFERENCE_ROWS: Final = 100_000
MAX_REFERENCE_COLUMNS: Final = 1_000
# Rows times columns: what bounds the comparison CSV and the time to write it.
MAX_REFERENCE_CELLS: Final = 1_000_000
# The Cross-Check rules' relative tolerance; no absolute one by default: any default
# would assume a unit (1e-6 is loose for a flow in m3/s), and a loose default passes
# silently where a strict one fails loudly (decision record 0083).
DEFAULT_REL_TOL: Final = 1e-3
DEFAULT_ABS_TOL: Final = 0.0
# A reference time this close (relative to the simulated span) past either end of the
# simulation counts as at that end: 2.0000000000000004 is the stop time 2.
TIME_SLACK: Final = 1e-9


class ReferenceProblem(ValueError):
    """The reference cannot be used as given; the message says why and where."""


@dataclass(frozen=True)
class Reference:
    times: tuple[float, ...]
    # Each variable's values, in the header's order, one per time.
    columns: dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class Tolerance:
    rel_tol: float = DEFAULT_REL_TOL
    abs_tol: float = DEFAULT_ABS_TOL

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Tolerance:
        return cls(
            float(config.get("rel_tol", DEFAULT_REL_TOL)),
            float(config.get("abs_tol", DEFAULT_ABS_TOL)),
        )


def parse_reference(data: bytes | str) -> Reference:
    """The CSV as numbers; ReferenceProblem for anything that is not the layout."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ReferenceProblem("the reference is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(data.removeprefix("\ufeff")))
    header = _header(next(reader, []))
    rows: list[list[float]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # a blank line (often the last)
        if len(rows) == min(MAX_REFERENCE_ROWS, MAX_REFERENCE_CELLS // len(header)):
            raise ReferenceProblem(
                f"the reference has more than {MAX_REFERENCE_ROWS:,} rows or "
                f"{MAX_REFERENCE_CELLS:,} cells"
            )
        rows.append(_numbers(row, header, reader.line_num))
    if not rows:
        raise ReferenceProblem("the reference has a header but no rows")
    at = header.index(TIME)
    times = tuple(row[at] for row in rows)
    _check_times(times)
    columns = {
        name: tuple(row[index] for row in rows) for index, name in enumerate(header) if index != at
    }
    return Reference(times, columns)


def _header(names: list[str]) -> list[str]:
    header = [name.strip() for name in names]
    if not header:
        raise ReferenceProblem("the reference is empty; its first row names the columns")
    if len(header) > MAX_REFERENCE_COLUMNS:
        raise ReferenceProblem(f"the reference has more than {MAX_REFERENCE_COLUMNS} columns")
    if TIME not in header:
        raise ReferenceProblem(f"the reference's header has no {TIME!r} column")
    if "" in header:
        raise ReferenceProblem(f"the reference's column {header.index('') + 1} has no name")
    repeated = next((name for name in header if header.count(name) > 1), None)
    if repeated is not None:
        raise ReferenceProblem(f"the reference names the column {repeated[:80]!r} twice")
    if len(header) < 2:
        raise ReferenceProblem(f"the reference has no column besides {TIME!r}")
    return header


def _numbers(row: list[str], header: list[str], line: int) -> list[float]:
    if len(row) != len(header):
        raise ReferenceProblem(
            f"line {line}: {len(row)} cells where the header names {len(header)} columns"
        )
    numbers = []
    for cell, name in zip(row, header, strict=True):
        try:
            number = float(cell)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ReferenceProblem(
                f"line {line}, column {name[:80]!r}: {cell[:40]!r} is not a number"
            )
        numbers.append(number)
    return numbers


def _check_times(times: tuple[float, ...]) -> None:
    """Times never decrease; a time given twice is an event (the value just before it,
    then just after it), as the Cross-Check layout writes one."""
    back = next((i for i in range(1, len(times)) if times[i] < times[i - 1]), None)
    if back is not None:
        raise ReferenceProblem(
            f"row {back + 1}: time {times[back]:g} comes before the previous row's "
            f"{times[back - 1]:g} (times may repeat at an event, never decrease)"
        )


def chosen(config: Mapping[str, Any], reference: Reference, recorded: Collection[str]) -> list[str]:
    """The variables the step compares: those `variables` names, else every reference
    column the simulation records."""
    asked = config.get("variables")
    if isinstance(asked, list):
        return [name for name in asked if name in reference.columns and name in recorded]
    return [name for name in reference.columns if name in recorded]


def unusable(
    config: Mapping[str, Any], reference: Reference, recorded: Collection[str]
) -> list[tuple[str, str]]:
    """(path, why) for each variable the step asks for that cannot be compared, or one
    when none of the reference's columns is recorded."""
    asked = config.get("variables")
    if not isinstance(asked, list):
        if chosen(config, reference, recorded):
            return []
        names = ", ".join(repr(n[:40]) for n in list(reference.columns)[:5])
        return [
            (
                "/reference",
                f"none of the reference's columns ({names}) is recorded; name them in outputs",
            )
        ]
    problems = []
    for index, name in enumerate(asked):
        if name not in reference.columns:
            problems.append(
                (f"/reference/variables/{index}", f"the reference has no column {name!r}")
            )
        elif name not in recorded:
            problems.append(
                (
                    f"/reference/variables/{index}",
                    f"{name!r} is not recorded (not among the outputs)",
                )
            )
    return problems


def outside(reference: Reference, start: float, stop: float) -> list[float]:
    """The reference times outside [start, stop] (beyond the slack)."""
    slack = TIME_SLACK * max(1.0, abs(stop - start))
    return [t for t in reference.times if t < start - slack or t > stop + slack]
