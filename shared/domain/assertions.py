"""Assertions on a step's metrics, in CEL (Common Expression Language, with cel-python):
`metrics.site_eui_kwh_m2 < 250.0`. Compiled when the workflow is saved (an expression
that does not compile is a 422 naming the step and the assertion); evaluated by the
callback on the metrics the validator reported, so a false one is a finding
(`assertion.failed`) stored with the step's other findings, and one that names a metric
the run did not produce is a finding too, never a crash. A metric may be null (the
validator knows it, the input has none: a model without gas): comparing it is an
`assertion.error` that says so, and `metrics.x == null || metrics.x < 5.0` allows it.

Besides `metrics`, an assertion sees `model`, the facts the validator read of the input
before checking it (`model.zone_count > 0`), and `steps`, the run's earlier steps by key
(`steps.baseline.metrics.site_eui_kwh_m2`, `steps.baseline.result == "PASSED"`,
`steps.baseline.model.zone_count`; a key with a dash also answers with underscores, or
as `steps["base-line"]`). Naming a step that is not an earlier one is a 422 at save.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.enums import Severity

MAX_ASSERTIONS = 50
_NAMED_METRIC = re.compile(r"\bmetrics\.([A-Za-z_][A-Za-z0-9_]*)")
_NAMED_STEP = re.compile(
    r"\bsteps\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:\"([^\"]*)\"|'([^']*)')\s*\])"
)


class Assertion(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    expr: str = Field(min_length=1, max_length=1000)
    severity: Severity = Severity.ERROR
    message: str = Field(min_length=1, max_length=500)


class InvalidAssertion(ValueError):
    """An assertion that does not compile."""


def compile_expr(expr: str) -> Any:
    import celpy
    from celpy.celparser import CELParseError

    environment = celpy.Environment()
    try:
        return environment.program(environment.compile(expr))
    except CELParseError as exc:
        raise InvalidAssertion(f"does not compile: {' '.join(str(exc).split())[:300]}") from None


def step_aliases(keys: list[str]) -> dict[str, str]:
    """The names an assertion may give each step: its key, and the key with dashes as
    underscores when no other key is already that."""
    names = {key: key for key in keys}
    for key in keys:
        names.setdefault(key.replace("-", "_"), key)
    return names


def named_steps(expr: str) -> list[str]:
    """The step names an expression reads through `steps`, in order."""
    return [next(g for g in m.groups() if g is not None) for m in _NAMED_STEP.finditer(expr)]


class StepView(BaseModel):
    """What an assertion sees of an earlier step."""

    key: str
    result: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)


def evaluate(
    assertions: list[Assertion],
    metrics: dict[str, Any],
    facts: dict[str, Any] | None = None,
    earlier: list[StepView] | None = None,
) -> list[dict[str, Any]]:
    """The findings (as output.json findings) of the assertions that do not hold."""
    if not assertions:
        return []
    from celpy.celtypes import BoolType
    from celpy.evaluation import CELEvalError

    activation = _activation(metrics, facts or {}, earlier or [])
    findings = []
    for index, assertion in enumerate(assertions):
        where = f"assertions[{index}]"
        try:
            value = compile_expr(assertion.expr).evaluate(activation)
        except (CELEvalError, InvalidAssertion) as exc:
            value = exc
        if isinstance(value, (CELEvalError, InvalidAssertion)):
            # A metric the run did not produce, a type mismatch: a finding, not a crash.
            why = f"{assertion.expr!r} could not be evaluated: {_reason(value, assertion, metrics)}"
            findings.append(_finding(assertion.severity, "assertion.error", where, why))
        elif not isinstance(value, (bool, BoolType)):
            why = f"{assertion.expr!r} is not true or false: it gives {value!r}"
            findings.append(_finding(assertion.severity, "assertion.error", where, why))
        elif not bool(value):
            findings.append(
                _finding(assertion.severity, "assertion.failed", where, assertion.message)
            )
    return findings


def _activation(
    metrics: dict[str, Any], facts: dict[str, Any], earlier: list[StepView]
) -> dict[str, Any]:
    from celpy.adapter import json_to_cel

    by_key = {step.key: step.model_dump(exclude={"key"}) for step in earlier}
    steps = {name: by_key[key] for name, key in step_aliases(list(by_key)).items()}
    return {
        "metrics": json_to_cel(metrics),
        "model": json_to_cel(facts),
        "steps": json_to_cel(steps),
    }


def _reason(exc: Any, assertion: Assertion, metrics: dict[str, Any]) -> str:
    nulls = [
        n for n in _NAMED_METRIC.findall(assertion.expr) if n in metrics and metrics[n] is None
    ]
    if nulls:
        return (
            f"metric {nulls[0]!r} is null (the input has none); "
            f"`metrics.{nulls[0]} == null || ...` accepts that"
        )
    args = getattr(exc, "args", ())
    text = str(args[0]) if args else str(exc)
    return text[:200]


def _finding(severity: Severity, code: str, path: str, message: str) -> dict[str, Any]:
    return {"severity": severity, "code": code, "message": message, "path": path}
