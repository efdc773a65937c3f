"""Metrics from the tabular reports in eplusout.sql, in kWh, kWh/m², m², m³, hours and W
whatever unit style the model's `OutputControl:Table:Style` chose (each cell is converted
from the unit the report gives it; a unit not known here gives None, never a wrong
number); None where the model has none (no such row in its reports).

Heating and cooling are the End Uses rows summed over every fuel the report has a column
for, and each fuel group apart (`heating_natural_gas_kwh`, ...). Occupied unmet hours come
from the LEED summary's "Number of hours not met", which EnergyPlus counts once when a
zone's heating and another's cooling (or the same zone's) are unmet in the same timestep
(decision record 0082)."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The report's units, by what they measure, as factors to the metric's unit.
_UNITS: dict[str, dict[str, float]] = {
    "energy": {
        "GJ": 277.7777777777778,
        "MJ": 0.2777777777777778,
        "kWh": 1.0,
        "MWh": 1000.0,
        "kBtu": 0.2930710701722222,
    },
    "energy_per_area": {
        "MJ/m2": 0.2777777777777778,
        "kWh/m2": 1.0,
        "kBtu/ft2": 0.2930710701722222 / 0.09290304,
    },
    "area": {"m2": 1.0, "ft2": 0.09290304},
    "water": {"m3": 1.0, "gal": 0.003785411784},
    "power": {"W": 1.0, "kW": 1000.0, "kBtuh": 293.0710701722222},
    "hours": {"Hours": 1.0, "hr": 1.0, "": 1.0},
}

# Fuel group -> the End Uses columns it sums (every energy column of EnergyPlus 25.2).
FUELS: dict[str, tuple[str, ...]] = {
    "electricity": ("Electricity",),
    "natural_gas": ("Natural Gas",),
    "propane": ("Propane",),
    "fuel_oil": ("Fuel Oil No 1", "Fuel Oil No 2"),
    "district_heating": ("District Heating Water", "District Heating Steam"),
    "district_cooling": ("District Cooling",),
    "other_fuel": ("Gasoline", "Diesel", "Coal", "Other Fuel 1", "Other Fuel 2"),
}
ALL_FUELS = tuple(column for columns in FUELS.values() for column in columns)


@dataclass(frozen=True)
class Cell:
    """Where a metric is read: a report's table, row and columns (summed), and its kind."""

    report: str
    table: str
    row: str
    columns: tuple[str, ...]
    kind: str


def _abups(table: str, row: str, columns: tuple[str, ...], kind: str = "energy") -> Cell:
    return Cell("AnnualBuildingUtilityPerformanceSummary", table, row, columns, kind)


def _end_uses(row: str, columns: tuple[str, ...]) -> Cell:
    return _abups("End Uses", row, columns)


def _per_fuel(end_use: str) -> dict[str, Cell]:
    return {
        f"{end_use.lower()}_{fuel}_kwh": _end_uses(end_use, columns)
        for fuel, columns in FUELS.items()
    }


_NOT_MET = "Comfort and Setpoint Not Met Summary"
# The first fourteen are the metrics of validator 1.0.0, in that order (redaction's list).
CELLS: dict[str, Cell] = {
    "site_electricity_kwh": _end_uses("Total End Uses", ("Electricity",)),
    "site_natural_gas_kwh": _end_uses("Total End Uses", ("Natural Gas",)),
    "district_heating_kwh": _end_uses("Total End Uses", FUELS["district_heating"]),
    "district_cooling_kwh": _end_uses("Total End Uses", FUELS["district_cooling"]),
    "heating_kwh": _end_uses("Heating", ALL_FUELS),
    "cooling_kwh": _end_uses("Cooling", ALL_FUELS),
    "interior_lighting_kwh": _end_uses("Interior Lighting", ("Electricity",)),
    "fans_kwh": _end_uses("Fans", ("Electricity",)),
    "pumps_kwh": _end_uses("Pumps", ("Electricity",)),
    "site_eui_kwh_m2": _abups(
        "Site and Source Energy",
        "Total Site Energy",
        ("Energy Per Total Building Area",),
        "energy_per_area",
    ),
    "conditioned_area_m2": _abups(
        "Building Area", "Net Conditioned Building Area", ("Area",), "area"
    ),
    "unmet_heating_hours": _abups(
        _NOT_MET, "Time Setpoint Not Met During Occupied Heating", ("Facility",), "hours"
    ),
    "unmet_cooling_hours": _abups(
        _NOT_MET, "Time Setpoint Not Met During Occupied Cooling", ("Facility",), "hours"
    ),
    "peak_electric_demand_w": Cell(
        "DemandEndUseComponentsSummary", "End Uses", "Total End Uses", ("Electricity",), "power"
    ),
    "site_energy_kwh": _abups("Site and Source Energy", "Total Site Energy", ("Total Energy",)),
    **_per_fuel("Heating"),
    **_per_fuel("Cooling"),
    "water_m3": _abups("End Uses", "Total End Uses", ("Water",), "water"),
    "unmet_occupied_hours": Cell(
        "LEEDsummary", "EAp2-2. Advisory Messages", "Number of hours not met", ("Data",), "hours"
    ),
}
# From eplusout.err (err.py), not the tables.
ERR_METRICS = ("warnings", "severe_errors")
# Every metric a simulation gives (validators/redaction.py declares the same names).
METRICS = (*CELLS, *ERR_METRICS)


def metrics(sql: Path) -> dict[str, float | None]:
    values: dict[str, float | None] = dict.fromkeys(CELLS)
    if not sql.exists():
        return values
    # The sandboxed engine wrote this file: it is opened read-only, its schema's own
    # functions untrusted, and a file that is not a database is no metrics, not a crash.
    with contextlib.closing(sqlite3.connect(f"{sql.as_uri()}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA trusted_schema = OFF")
        try:
            return {name: _value(db, cell) for name, cell in CELLS.items()}
        except sqlite3.DatabaseError:
            return values


def _value(db: Any, cell: Cell) -> float | None:
    """The cell's columns summed in the metric's unit; None when the report has none of
    them, or one is not a number in a unit known here."""
    found = db.execute(
        "SELECT ColumnName, Units, Value FROM TabularDataWithStrings WHERE ReportName=? "
        "AND TableName=? AND RowName=? AND ReportForString='Entire Facility'",
        (cell.report, cell.table, cell.row),
    ).fetchall()
    wanted = [(units, value) for column, units, value in found if column in cell.columns]
    if not wanted:
        return None
    total = 0.0
    for units, value in wanted:
        factor = _UNITS[cell.kind].get((units or "").strip())
        number = _number(value)
        if factor is None or number is None:
            return None
        total += number * factor
    return round(total, 6)


def _number(text: Any) -> float | None:
    try:
        return float(text) if isinstance(text, str) and text.strip() else None
    except ValueError:
        return None
