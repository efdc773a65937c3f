"""A step's metrics against reference values (config `reference.metrics`).

A metric passes when |value - reference| <= abs_tol + rel_tol * |reference|, each
tolerance the metric's own, else the one `reference` gives for all, else 0. One that does
not (or has no value) is a `reference.mismatch` ERROR naming both values and the
tolerance. Each compared metric gives `<name>_ref_abs_error` and `<name>_ref_rel_error`
(|value - reference| / |reference|; None where the reference is 0 or there is no value),
and the comparison is a CSV for charts (metric,value,reference,abs_error,rel_error,
abs_tol,rel_tol,pass). A `reference.run` (another run's metrics) is resolved into
`reference.metrics` before the job starts; the job ignores it."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contract.envelopes import OutputFinding
from shared.contract.severity import Severity

MISMATCH = "reference.mismatch"
CSV_NAME = "reference_comparison.csv"
_COLUMNS = ("metric", "value", "reference", "abs_error", "rel_error", "abs_tol", "rel_tol", "pass")


@dataclass(frozen=True)
class Comparison:
    metric: str
    value: float | None
    reference: float
    abs_tol: float
    rel_tol: float

    @property
    def abs_error(self) -> float | None:
        return None if self.value is None else abs(self.value - self.reference)

    @property
    def rel_error(self) -> float | None:
        error = self.abs_error
        return None if error is None or self.reference == 0 else error / abs(self.reference)

    @property
    def passed(self) -> bool:
        error = self.abs_error
        return error is not None and error <= self.abs_tol + self.rel_tol * abs(self.reference)


@dataclass
class Outcome:
    findings: list[OutputFinding]
    metrics: dict[str, float | None]
    csv: bytes


def comparisons(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[Comparison]:
    """One comparison per metric `reference.metrics` names, in its order."""
    reference = config.get("reference")
    if not isinstance(reference, dict) or not isinstance(reference.get("metrics"), dict):
        return []
    return [
        Comparison(
            metric=name,
            value=_number(metrics.get(name)),
            reference=float(wanted["value"]),
            abs_tol=_tolerance("abs_tol", wanted, reference),
            rel_tol=_tolerance("rel_tol", wanted, reference),
        )
        for name, wanted in reference["metrics"].items()
        if isinstance(wanted, dict) and _number(wanted.get("value")) is not None
    ]


def _tolerance(key: str, own: Mapping[str, Any], shared: Mapping[str, Any]) -> float:
    """The metric's own tolerance, else the reference's for all, else 0."""
    for source in (own, shared):
        found = _number(source.get(key))
        if found is not None:
            return abs(found)
    return 0.0


def compare(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> Outcome | None:
    """The comparison's findings, error metrics and CSV; None without a reference."""
    found = comparisons(config, metrics)
    if not found:
        return None
    errors: dict[str, float | None] = {}
    for c in found:
        errors[f"{c.metric}_ref_abs_error"] = _rounded(c.abs_error)
        errors[f"{c.metric}_ref_rel_error"] = _rounded(c.rel_error)
    return Outcome([_mismatch(c) for c in found if not c.passed], errors, _csv(found))


def _mismatch(c: Comparison) -> OutputFinding:
    said = "no value" if c.value is None else f"{c.value:g}"
    return OutputFinding(
        severity=Severity.ERROR,
        code=MISMATCH,
        rule=c.metric,
        message=(
            f"{c.metric} is {said}; the reference is {c.reference:g} "
            f"(allowed: abs_tol {c.abs_tol:g} + rel_tol {c.rel_tol:g} x |reference| = "
            f"{c.abs_tol + c.rel_tol * abs(c.reference):g})"
        ),
    )


def _csv(found: list[Comparison]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for c in found:
        writer.writerow(
            [
                c.metric,
                _cell(c.value),
                _cell(c.reference),
                _cell(c.abs_error),
                _cell(c.rel_error),
                _cell(c.abs_tol),
                _cell(c.rel_tol),
                "true" if c.passed else "false",
            ]
        )
    return text.getvalue().encode()


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
