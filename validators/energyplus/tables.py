"""Metrics from the tabular reports in eplusout.sql, in kWh, m², hours and W; None
where the model has none (no such row in its reports)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

GJ_TO_KWH = 277.7777777777778
MJ_TO_KWH = 0.2777777777777778

# metric -> (table, row, column, factor): AnnualBuildingUtilityPerformanceSummary.
_ABUPS: dict[str, tuple[str, str, str, float]] = {
    "site_electricity_kwh": ("End Uses", "Total End Uses", "Electricity", GJ_TO_KWH),
    "site_natural_gas_kwh": ("End Uses", "Total End Uses", "Natural Gas", GJ_TO_KWH),
    "district_heating_kwh": ("End Uses", "Total End Uses", "District Heating Water", GJ_TO_KWH),
    "district_cooling_kwh": ("End Uses", "Total End Uses", "District Cooling", GJ_TO_KWH),
    "heating_kwh": ("End Uses", "Heating", "Electricity", GJ_TO_KWH),
    "cooling_kwh": ("End Uses", "Cooling", "Electricity", GJ_TO_KWH),
    "interior_lighting_kwh": ("End Uses", "Interior Lighting", "Electricity", GJ_TO_KWH),
    "fans_kwh": ("End Uses", "Fans", "Electricity", GJ_TO_KWH),
    "pumps_kwh": ("End Uses", "Pumps", "Electricity", GJ_TO_KWH),
    "site_eui_kwh_m2": (
        "Site and Source Energy",
        "Total Site Energy",
        "Energy Per Total Building Area",
        MJ_TO_KWH,
    ),
    "conditioned_area_m2": ("Building Area", "Net Conditioned Building Area", "Area", 1.0),
    "unmet_heating_hours": (
        "Comfort and Setpoint Not Met Summary",
        "Time Setpoint Not Met During Occupied Heating",
        "Facility",
        1.0,
    ),
    "unmet_cooling_hours": (
        "Comfort and Setpoint Not Met Summary",
        "Time Setpoint Not Met During Occupied Cooling",
        "Facility",
        1.0,
    ),
}
METRICS = (*_ABUPS, "peak_electric_demand_w")


def metrics(sql: Path) -> dict[str, float | None]:
    values: dict[str, float | None] = dict.fromkeys(METRICS)
    if not sql.exists():
        return values
    # The sandboxed engine wrote this file: it is opened read-only, its schema's own
    # functions untrusted, and a file that is not a database is no metrics, not a crash.
    with contextlib.closing(sqlite3.connect(f"{sql.as_uri()}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA trusted_schema = OFF")
        try:
            _read(db, values)
        except sqlite3.DatabaseError:
            return dict.fromkeys(METRICS)
    return values


def _read(db: Any, values: dict[str, float | None]) -> None:
    for name, (table, row, column, factor) in _ABUPS.items():
        values[name] = _number(
            db, "AnnualBuildingUtilityPerformanceSummary", table, row, column, factor
        )
    values["peak_electric_demand_w"] = _number(
        db, "DemandEndUseComponentsSummary", "End Uses", "Total End Uses", "Electricity", 1.0
    )


def _number(db: Any, report: str, table: str, row: str, column: str, factor: float) -> float | None:
    found = db.execute(
        "SELECT Value FROM TabularDataWithStrings WHERE ReportName=? AND TableName=? "
        "AND RowName=? AND ColumnName=? AND ReportForString='Entire Facility'",
        (report, table, row, column),
    ).fetchone()
    try:
        return round(float(found[0]) * factor, 6) if found and found[0].strip() else None
    except ValueError:
        return None
