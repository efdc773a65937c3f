"""EnergyPlus metrics with the real engine: heating and cooling summed over every fuel
(a gas-heated model's heating is its gas, an ideal-loads model's its district heating),
each fuel group apart; the same figures whatever unit style the model's tables use;
water; the engine's own counts of warnings and severe errors; occupied unmet hours
counted once when heating and cooling are unmet in the same hour (a model built to miss
both). Then references: metrics within their tolerance pass, one outside it (or with no
value) is a `reference.mismatch` naming both values and the tolerance, with error
metrics and a comparison CSV beside output.json."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from shared.catalog.energyplus import SPEC
from tests.unit.test_energyplus_validator import CHICAGO, _run
from validators.energyplus.err import counts
from validators.energyplus.reference import compare
from validators.energyplus.tables import FUELS, METRICS
from validators.runtime import ValidationResult

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BOX = (EXAMPLES / "box.idf").read_bytes()
GAS = (EXAMPLES / "box-gas.idf").read_bytes()
UNMET = (EXAMPLES / "box-unmet.idf").read_bytes()
WEATHER = {"weather": CHICAGO}
# The tables give GJ with two decimals: 0.005 GJ is 1.39 kWh.
GJ_ROUNDING_KWH = 1.4


def _gas(tmp_path: Path, config: dict[str, Any] | None = None) -> ValidationResult:
    result = _run(tmp_path, GAS, {**WEATHER, **(config or {})}, name="box-gas.idf")
    assert [
        f for f in result.findings if f.severity == "ERROR" and f.code != "reference.mismatch"
    ] == []
    return result


def test_a_gas_heated_model_reports_its_gas_as_heating(tmp_path: Path) -> None:
    metrics = _gas(tmp_path).metrics
    assert set(METRICS) <= set(metrics)
    assert metrics["heating_kwh"] > 10.0  # type: ignore[operator]
    assert metrics["heating_natural_gas_kwh"] == metrics["heating_kwh"]
    assert metrics["site_natural_gas_kwh"] == metrics["heating_kwh"]
    assert metrics["heating_electricity_kwh"] == 0.0 and metrics["cooling_kwh"] == 0.0
    others = [f"heating_{fuel}_kwh" for fuel in FUELS if fuel != "natural_gas"]
    assert [metrics[name] for name in others] == [0.0] * len(others)
    assert (metrics["warnings"], metrics["severe_errors"], metrics["water_m3"]) == (1, 0, 0.0)


def test_an_ideal_loads_model_reports_its_district_heating_as_heating(tmp_path: Path) -> None:
    metrics = _run(tmp_path, BOX).metrics
    assert metrics["heating_kwh"] == metrics["heating_district_heating_kwh"]
    assert metrics["heating_kwh"] == metrics["district_heating_kwh"]
    assert metrics["heating_kwh"] > 50.0  # type: ignore[operator]
    assert metrics["heating_electricity_kwh"] == 0.0


@pytest.mark.parametrize("style", ["JtoKWH", "InchPound"])
def test_the_tables_unit_style_does_not_change_the_metrics(tmp_path: Path, style: str) -> None:
    base = _gas(tmp_path / "base").metrics
    styled = GAS.replace(
        b"OutputControl:Table:Style,HTML;", f"OutputControl:Table:Style,HTML,{style};".encode()
    )
    metrics = _run(tmp_path / style, styled, WEATHER).metrics
    # 1076.50 ft² (the report's two decimals) is 100.01 m².
    assert metrics["conditioned_area_m2"] == pytest.approx(100.0, abs=0.02)
    assert metrics["heating_kwh"] == pytest.approx(base["heating_kwh"], abs=GJ_ROUNDING_KWH)
    assert metrics["peak_electric_demand_w"] == pytest.approx(
        base["peak_electric_demand_w"], rel=0.01
    )
    assert metrics["site_eui_kwh_m2"] == pytest.approx(base["site_eui_kwh_m2"], abs=0.02)


def test_water_is_reported_in_cubic_metres(tmp_path: Path) -> None:
    # 0.1 l/s of taps running for two weeks: 120.96 m³.
    taps = BOX + b"WaterUse:Equipment,Taps,General,0.0001,Always On;\n"
    metrics = _run(tmp_path, taps).metrics
    assert metrics["water_m3"] == pytest.approx(120.96, rel=0.01)


def test_unmet_occupied_hours_count_an_hour_once(tmp_path: Path) -> None:
    result = _run(tmp_path, UNMET, WEATHER, name="box-unmet.idf")
    metrics = result.metrics
    heating, cooling = metrics["unmet_heating_hours"], metrics["unmet_cooling_hours"]
    occupied = metrics["unmet_occupied_hours"]
    assert isinstance(heating, float) and isinstance(cooling, float)
    assert isinstance(occupied, float)
    # Two days, every hour of them short of one setpoint or the other, some of both.
    assert occupied == 48.0
    assert max(heating, cooling) < occupied < heating + cooling


def test_the_engines_own_counts_of_its_messages() -> None:
    ended = (
        "   ************* EnergyPlus Completed Successfully-- 3 Warning; 0 Severe Errors; Elapsed"
    )
    assert counts("   ** Warning ** a\n" + ended) == {"warnings": 3, "severe_errors": 0}
    fatal = (
        "   ************* EnergyPlus Terminated--Fatal Error Detected. 0 Warning; 2 Severe Errors;"
    )
    assert counts(fatal) == {"warnings": 0, "severe_errors": 2}
    # Stopped before its summary: the messages it wrote.
    stopped = "   ** Warning ** a\n   ** Severe  ** b\n   **   ~~~   ** more\n   ** Warning ** a\n"
    assert counts(stopped) == {"warnings": 2, "severe_errors": 1}


# References


def test_references_within_and_outside_their_tolerance(tmp_path: Path) -> None:
    heating = _gas(tmp_path / "first").metrics["heating_kwh"]
    assert isinstance(heating, float)
    reference = {
        "metrics": {
            "heating_kwh": {"value": heating * 1.02, "rel_tol": 0.05},
            "conditioned_area_m2": {"value": 90.0},
            "cooling_kwh": {"value": 0.0, "abs_tol": 0.0},
            "no_such_metric": {"value": 1.0},
        },
        "abs_tol": 5.0,
    }
    result = _gas(tmp_path / "second", {"reference": reference})
    mismatches = {f.rule: f for f in result.findings if f.code == "reference.mismatch"}
    assert set(mismatches) == {"conditioned_area_m2", "no_such_metric"}
    area = mismatches["conditioned_area_m2"]
    assert area.severity == "ERROR"
    assert "conditioned_area_m2 is 100; the reference is 90" in area.message
    assert "abs_tol 5 + rel_tol 0" in area.message
    assert "no_such_metric is no value" in mismatches["no_such_metric"].message
    metrics = result.metrics
    assert metrics["conditioned_area_m2_ref_abs_error"] == 10.0
    assert metrics["conditioned_area_m2_ref_rel_error"] == pytest.approx(10 / 90)
    assert metrics["heating_kwh_ref_rel_error"] == pytest.approx(0.02 / 1.02)
    assert metrics["cooling_kwh_ref_rel_error"] is None  # relative to 0
    assert metrics["no_such_metric_ref_abs_error"] is None
    (artifact,) = [a for a in result.artifacts if a.name == "reference_comparison.csv"]
    rows = list(
        csv.DictReader(io.StringIO((tmp_path / "second" / "bundle" / artifact.name).read_text()))
    )
    assert [(r["metric"], r["pass"]) for r in rows] == [
        ("heating_kwh", "true"),
        ("conditioned_area_m2", "false"),
        ("cooling_kwh", "true"),
        ("no_such_metric", "false"),
    ]
    assert float(rows[1]["value"]) == 100.0 and float(rows[1]["reference"]) == 90.0
    assert rows[3]["value"] == "" and rows[0]["abs_tol"] == "5.0"


def test_a_preflight_step_or_a_refused_model_compares_nothing(tmp_path: Path) -> None:
    reference = {"metrics": {"heating_kwh": {"value": 1.0}}}
    result = _run(tmp_path, GAS, {**WEATHER, "preflight_only": True, "reference": reference})
    assert result.findings == [] and result.metrics == {} and result.artifacts == []
    refused = _run(
        tmp_path,
        GAS.replace(b"Version,25.2;", b"Version,9.6;"),
        {**WEATHER, "reference": reference},
    )
    assert [f.code for f in refused.findings] == ["energyplus.version"]
    assert refused.metrics == {} and refused.artifacts == []


def test_the_tolerance_rule_at_its_edge() -> None:
    def mismatched(value: float, wanted: dict[str, Any], **shared: float) -> bool:
        outcome = compare({"reference": {"metrics": {"m": wanted}, **shared}}, {"m": value})
        assert outcome is not None
        return bool(outcome.findings)

    # |v - ref| <= abs_tol + rel_tol * |ref|: 100 + 10 allowed around -100... exactly.
    assert not mismatched(-90.0, {"value": -100.0, "rel_tol": 0.05, "abs_tol": 5.0})
    assert mismatched(-89.9, {"value": -100.0, "rel_tol": 0.05, "abs_tol": 5.0})
    # The metric's own tolerance wins over the reference's; without either, exact.
    assert mismatched(101.0, {"value": 100.0, "rel_tol": 0.001}, rel_tol=0.5)
    assert not mismatched(101.0, {"value": 100.0}, rel_tol=0.5)
    assert mismatched(100.000001, {"value": 100.0})
    # A `run` the launch has not resolved into metrics compares nothing.
    assert compare({"reference": {"run": "R" * 20}}, {"m": 1.0}) is None


def test_the_config_takes_both_forms_of_reference() -> None:
    assert (
        SPEC.check({"reference": {"metrics": {"heating_kwh": {"value": 1.0, "rel_tol": 0.1}}}})
        == []
    )
    assert (
        SPEC.check({"reference": {"run": "a" * 20, "rel_tol": 0.1, "names": ["heating_kwh"]}}) == []
    )
    resolved = {"run": "a" * 20, "metrics": {"heating_kwh": {"value": 1.0}}}
    assert SPEC.check({"reference": resolved}) == []
    for wrong in (
        {},
        {"run": "short"},
        {"metrics": {"heating_kwh": {"value": "1"}}},
        {"metrics": {"heating_kwh": {"value": 1.0, "abs_tol": -1}}},
        {"metrics": {"heating_kwh": {"value": 1.0}}, "extra": 1},
    ):
        with pytest.raises(ValueError, match="reference"):
            SPEC.check({"reference": wrong})
