"""A step's reference run (`reference: {"run": RUN_ID}`), pinned when the workflow is
saved: the finished run of the same org is read once and its metrics written into the
step's config as `reference.metrics`, so the job compares against numbers that can no
longer change and never reads another run itself."""

from __future__ import annotations

from typing import Any

from shared.domain.models import StepRun, ValidationRun
from shared.platform.errors import Unprocessable
from shared.services.resources import ResourceBook

TOLERANCES = ("rel_tol", "abs_tol")


def pin_reference_run(
    config: dict[str, Any], validator: str, book: ResourceBook | None, label: str
) -> dict[str, Any]:
    """`config` with its reference run's metrics pinned; the config itself when it names
    no run (or the run's metrics are pinned already: a re-pin keeps them)."""
    reference = config.get("reference")
    if not isinstance(reference, dict) or not isinstance(reference.get("run"), str):
        return config
    if "metrics" in reference:
        return config
    where = f"{label}: config.reference.run"
    if book is None:
        raise Unprocessable(f"{where}: a reference run cannot be used here")
    step = _reference_step(_finished_run(book, reference["run"], where), validator, where)
    metrics = _chosen(step, reference.get("names"), where)
    tolerances = {k: reference[k] for k in TOLERANCES if k in reference}
    pinned = {name: {"value": value, **tolerances} for name, value in metrics.items()}
    return {**config, "reference": {**reference, "metrics": pinned}}


def _finished_run(book: ResourceBook, run_id: str, where: str) -> ValidationRun:
    run = book.repos.runs.find(run_id)
    # Another org's run answers as one that does not exist.
    if run is None or run.org_id != book.org_id:
        raise Unprocessable(f"{where}: {run_id!r} is not a run of this org")
    if not run.terminal:
        raise Unprocessable(f"{where}: run {run_id!r} has not finished ({run.status.value})")
    return run


def _reference_step(run: ValidationRun, validator: str, where: str) -> StepRun:
    """The run's first step of the same validator that reported metrics."""
    step = next((s for s in run.steps if s.validator == validator and s.metrics), None)
    if step is None:
        raise Unprocessable(f"{where}: run {run.id!r} has no {validator} step with metrics")
    return step


def _chosen(step: StepRun, names: Any, where: str) -> dict[str, float]:
    numbers = {
        name: float(value)
        for name, value in step.metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    if names is None:
        return numbers
    missing = [n for n in names if n not in numbers]
    if missing:
        raise Unprocessable(
            f"{where}: the run's step {step.key!r} has no numeric metric {missing[0]!r}; "
            f"it has {sorted(numbers)}"
        )
    return {n: numbers[n] for n in names}
