"""What a model holds, read before it is simulated (output.json's `facts`, which a step's
assertions see as `model.*`).

They are read from the model as epJSON: an epJSON input as it is (after its schema
check), an IDF as the engine's own converter wrote it (`energyplus --convert-only`, in
the sandbox; model_check.py), so an IDF is read with the engine's grammar, not a second
one of ours. They describe the model as submitted: a step's `timestep_per_hour` or
`design_days_only` changes what runs, not these."""

from __future__ import annotations

import datetime
import re
from typing import Any

from shared.contract.envelopes import FactValue

# The heat-transfer surfaces, the subsurfaces (windows and doors) and the shading
# surfaces, by every object type that makes one (EnergyPlus 25.2's schema).
SURFACES = (
    "BuildingSurface:Detailed",
    "Wall:Detailed",
    "RoofCeiling:Detailed",
    "Floor:Detailed",
    "Wall:Exterior",
    "Wall:Adiabatic",
    "Wall:Underground",
    "Wall:Interzone",
    "Roof",
    "Ceiling:Adiabatic",
    "Ceiling:Interzone",
    "Floor:GroundContact",
    "Floor:Adiabatic",
    "Floor:Interzone",
)
FENESTRATION = (
    "FenestrationSurface:Detailed",
    "Window",
    "Door",
    "GlazedDoor",
    "Window:Interzone",
    "Door:Interzone",
    "GlazedDoor:Interzone",
)
SHADING = (
    "Shading:Site",
    "Shading:Building",
    "Shading:Site:Detailed",
    "Shading:Building:Detailed",
    "Shading:Overhang",
    "Shading:Overhang:Projection",
    "Shading:Fin",
    "Shading:Fin:Projection",
    "Shading:Zone:Detailed",
)
SIZING_PERIODS = (
    "SizingPeriod:DesignDay",
    "SizingPeriod:WeatherFileDays",
    "SizingPeriod:WeatherFileConditionType",
)
_VERSION = re.compile(r"\d{1,4}(?:\.\d{1,4}){0,3}")
# The engine's default when a model has no Timestep object.
DEFAULT_TIMESTEPS = 6
# A run period without years is read in a year that is not a leap year, as the engine does.
_NO_LEAP_YEAR = 2017


def model_facts(model: dict[str, Any], engine_version: str) -> dict[str, FactValue]:
    objects = {kind: body for kind, body in model.items() if isinstance(body, dict)}

    def count(*kinds: str) -> int:
        return sum(len(objects.get(kind, {})) for kind in kinds)

    periods = list(objects.get("RunPeriod", {}).values())
    return {
        "version": _version(objects),
        "energyplus_version": engine_version,
        "zone_count": count("Zone"),
        "surface_count": count(*SURFACES),
        "fenestration_count": count(*FENESTRATION),
        "shading_surface_count": count(*SHADING),
        "has_hvac": bool(_conditioned(objects)),
        "conditioned_zone_count": len(_conditioned(objects)),
        "timesteps_per_hour": _timesteps(objects),
        "run_period_count": len(periods),
        "run_period_days": sum(_days(p) for p in periods if isinstance(p, dict)),
        "sizing_period_count": count(*SIZING_PERIODS),
        "object_counts": {kind: len(body) for kind, body in sorted(objects.items())},
    }


def _first(objects: dict[str, Any], kind: str) -> dict[str, Any]:
    found: Any = next(iter(objects.get(kind, {}).values()), {})
    return found if isinstance(found, dict) else {}


def _version(objects: dict[str, Any]) -> str | None:
    """The model's Version when it is a version number: any other text would quote the
    file into a fact (an epJSON's identifier is a free string)."""
    declared = str(_first(objects, "Version").get("version_identifier"))
    return declared if _VERSION.fullmatch(declared) else None


def _timesteps(objects: dict[str, Any]) -> int:
    value = _first(objects, "Timestep").get("number_of_timesteps_per_hour", DEFAULT_TIMESTEPS)
    return value if isinstance(value, int) else DEFAULT_TIMESTEPS


def _conditioned(objects: dict[str, Any]) -> set[str]:
    """The zones that have equipment: zone equipment connections, or an HVAC template
    (which the engine expands into them before it simulates)."""
    kinds = [
        kind
        for kind in objects
        if kind == "ZoneHVAC:EquipmentConnections" or kind.startswith("HVACTemplate:Zone:")
    ]
    return {
        str(body.get("zone_name", name)).upper()
        for kind in kinds
        for name, body in objects[kind].items()
        if isinstance(body, dict)
    }


def _days(period: dict[str, Any]) -> int:
    """The days a RunPeriod spans, both ends included; 0 for one whose dates are not."""
    try:
        begin_year = int(period.get("begin_year") or _NO_LEAP_YEAR)
        begin = datetime.date(
            begin_year, int(period["begin_month"]), int(period["begin_day_of_month"])
        )
        end_month, end_day = int(period["end_month"]), int(period["end_day_of_month"])
        end_year = int(period.get("end_year") or begin_year)
        end = datetime.date(end_year, end_month, end_day)
        if end < begin and not period.get("end_year"):
            # A period that wraps the new year (December to February) ends the next one.
            end = datetime.date(end_year + 1, end_month, end_day)
    except (KeyError, TypeError, ValueError):
        return 0
    return max((end - begin).days + 1, 0)
