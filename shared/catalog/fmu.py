"""The fmu validator's step config."""

from __future__ import annotations

from typing import Any

from shared.catalog.spec import ConfigError, ValidatorSpec

MAX_FMU_STEPS = 1_000_000
MAX_SERIES_POINTS = 10_000


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
    return []


SPEC = ValidatorSpec(
    name="fmu",
    file_types=frozenset({"fmu"}),
    check_config=_check_fmu,
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
        },
        "required": ["stop_time", "step_size", "outputs"],
        "additionalProperties": False,
    },
)
