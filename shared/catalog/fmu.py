"""The fmu validator's step config."""

from __future__ import annotations

import re
from typing import Any

from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec

MAX_FMU_STEPS = 1_000_000
MAX_SERIES_POINTS = 10_000
MAX_REFERENCE_VARIABLES = 50
# Where the save puts the reference resource's text for the check (never stored).
REFERENCE_TEXT = "_reference_csv"


def _check_fmu(config: dict[str, Any]) -> list[str]:
    start, stop, step = config.get("start_time", 0.0), config["stop_time"], config["step_size"]
    if stop <= start:
        raise ConfigError(f"config.stop_time ({stop}) must be after config.start_time ({start})")
    if (stop - start) / step > MAX_FMU_STEPS:
        raise ConfigError(f"config: more than {MAX_FMU_STEPS} steps; use a larger step_size")
    for name, value in (config.get("inputs") or {}).items():
        times = [point[0] for point in value] if isinstance(value, list) else []
        later = next((i for i in range(1, len(times)) if times[i] <= times[i - 1]), None)
        if later is not None:
            raise ConfigError(
                f"config.inputs.{name}[{later}]: time {times[later]} must be after "
                f"{times[later - 1]} (a series' times increase)"
            )
    _check_reference(config)
    return []


def _check_reference(config: dict[str, Any]) -> None:
    """The reference's variables are among the outputs; with the resource's text (the
    save reads it in), the CSV is the Cross-Check layout, names the variables and stays
    within the simulated time."""
    reference = config.get("reference")
    if reference is None:
        return
    outputs = config["outputs"]
    for index, name in enumerate(reference.get("variables") or []):
        if name not in outputs:
            raise ConfigError(
                f"config.reference.variables[{index}]: {name!r} is not among config.outputs "
                "(only a recorded variable can be compared)"
            )
    text = config.get(REFERENCE_TEXT)
    if text is None:
        return
    # The job reads it with the same code; pure Python, loaded only to check one.
    from validators.fmu.reference import ReferenceProblem, outside, parse_reference, unusable

    where = f"config.reference.resource ({reference['resource']!r})"
    try:
        parsed = parse_reference(text)
    except ReferenceProblem as problem:
        raise ConfigError(f"{where}: {problem}") from None
    problems = unusable(reference, parsed, outputs)
    if problems:
        path, why = problems[0]
        key = re.sub(r"/(\d+)", r"[\1]", path).replace("/", ".")
        raise ConfigError(f"config{key}: {why}")
    start, stop = float(config.get("start_time", 0.0)), float(config["stop_time"])
    late = outside(parsed, start, stop)
    if late:
        raise ConfigError(
            f"{where}: {len(late)} reference times lie outside start_time {start:g} to "
            f"stop_time {stop:g} (the first: {late[0]:g})"
        )


SPEC = ValidatorSpec(
    name="fmu",
    file_types=frozenset({"fmu"}),
    check_config=_check_fmu,
    resource_fields=(ResourceField("reference.resource", text_into=REFERENCE_TEXT),),
    config_schema={
        "type": "object",
        "properties": {
            "start_time": {"type": "number", "default": 0},
            "stop_time": {"type": "number"},
            "step_size": {"type": "number", "exclusiveMinimum": 0},
            "inputs": {
                "type": "object",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "number"},
                        {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "prefixItems": [{"type": "number"}, {"type": "number"}],
                                "minItems": 2,
                                "maxItems": 2,
                            },
                            "minItems": 1,
                            "maxItems": MAX_SERIES_POINTS,
                        },
                    ]
                },
                "description": (
                    "Input variable -> a constant, or a time series [[time, value], ...] "
                    "with increasing times (linear between points, held outside them)"
                ),
            },
            "parameters": {
                "type": "object",
                "additionalProperties": {"type": ["number", "boolean", "string"]},
                "description": "Parameter -> start value",
            },
            "outputs": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": 100,
                "description": "Variables to record; each gives <name>_final/_min/_max",
            },
            "reference": {
                "type": "object",
                "properties": {
                    "resource": {
                        "type": "string",
                        "minLength": 1,
                        "description": (
                            "A workflow resource: a CSV with a header row naming `time` "
                            "and one column per variable (the FMI Cross-Check layout)"
                        ),
                    },
                    "rel_tol": {"type": "number", "minimum": 0, "default": 1e-3},
                    "abs_tol": {"type": "number", "minimum": 0, "default": 0},
                    "variables": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": MAX_REFERENCE_VARIABLES,
                        "uniqueItems": True,
                        "description": (
                            "The variables compared (each among outputs); by default "
                            "every reference column the outputs record"
                        ),
                    },
                },
                "required": ["resource"],
                "additionalProperties": False,
                "description": (
                    "Compare the result with a reference: at each reference time the "
                    "simulation (linear between its samples) passes when "
                    "|v - ref| <= abs_tol + rel_tol * |ref|; gives <name>_max_abs_error "
                    "and <name>_max_rel_error, and a reference.mismatch finding per "
                    "variable that fails"
                ),
            },
        },
        "required": ["stop_time", "step_size", "outputs"],
        "additionalProperties": False,
    },
)
