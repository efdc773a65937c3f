"""The fmu validator with fmpy on FMUs built by pythonfmu (FMI 2.0 co-simulation): a good
run gives metrics and a CSV, an FMU that fails in doStep or is not an FMU is a finding,
an unknown variable is a finding, and one that hangs is stopped at the step's timeout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shared.envelopes import InputEnvelope, InputFile, ValidatorRef
from shared.validators_catalog import ConfigError, get_validator
from validators.fmu.validator import check, validate
from validators.runtime import TimedOut, validate_within

ROOT = Path(__file__).resolve().parents[2]
TANK = ROOT / "examples" / "Tank.fmu"
FAILING = ROOT / "examples" / "TankFailing.fmu"
CONFIG = {"stop_time": 2.0, "step_size": 0.5, "parameters": {"rate": 2.0}, "outputs": ["level"]}
HANGING = """
import time
from pythonfmu import Fmi2Causality, Fmi2Slave, Real


class Hang(Fmi2Slave):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.level = 0.0
        self.register_variable(Real("level", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        time.sleep(3600)
        return True
"""


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    assert TANK.exists() and FAILING.exists(), "run `make examples` (pythonfmu builds them)"


def _envelope(tmp_path: Path, config: dict[str, Any]) -> InputEnvelope:
    return InputEnvelope(
        run_id="R" * 20,
        org_id="o",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="fmu", version="1"),
        config=config,
        files=[],
        callback_url="http://127.0.0.1:9",
        callback_id="c" * 32,
        output_uri=(tmp_path / "out" / "output.json").as_uri(),
        timeout_seconds=60,
    )


def test_a_good_fmu_gives_metrics_and_a_csv(tmp_path: Path) -> None:
    config = {**CONFIG, "inputs": {"inflow": 1.0}}
    item = InputFile(
        name="Tank.fmu",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=1,
        content_type="application/octet-stream",
    )
    result = validate(_envelope(tmp_path, config), [(item, TANK.read_bytes())])
    # pythonfmu leaves ModelStructure/InitialUnknowns empty: a warning, not an error.
    assert {(f.code, f.severity) for f in result.findings} == {("fmu.model_description", "WARNING")}
    assert result.metrics == {"level_final": 6.0, "level_min": 0.0, "level_max": 6.0}
    (artifact,) = result.artifacts
    csv = (tmp_path / "out" / "result.csv").read_text().splitlines()
    assert artifact.name == "result.csv" and csv[0] == "time,level" and csv[-1] == "2,6"


def test_an_unknown_variable_is_a_finding_not_a_crash() -> None:
    findings, result = check(
        {**CONFIG, "outputs": ["level", "pressure"], "parameters": {"volume": 1}}, TANK.read_bytes()
    )
    assert {(f.code, f.path) for f in findings if f.severity == "ERROR"} == {
        ("fmu.unknown_variable", "/outputs/1"),
        ("fmu.unknown_variable", "/parameters/volume"),
    }
    assert result is not None and float(result["level"][-1]) == 2.0


def test_an_fmu_that_fails_in_do_step_is_a_finding() -> None:
    findings, result = check(
        {"stop_time": 2.0, "step_size": 0.5, "outputs": ["level"]}, FAILING.read_bytes()
    )
    assert result is None
    (finding,) = [f for f in findings if f.severity == "ERROR"]
    assert finding.code == "fmu.simulation_failed" and "fmi2DoStep failed" in finding.message


def test_a_file_that_is_not_an_fmu_is_a_finding() -> None:
    (finding,), result = check(CONFIG, b"not a zip at all")
    assert (finding.code, result) == ("fmu.archive", None)


def test_an_fmu_that_hangs_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    source = tmp_path / "hang.py"
    source.write_text(HANGING)
    pythonfmu = Path(sys.executable).parent / "pythonfmu"
    subprocess.run(
        [str(pythonfmu), "build", "-f", str(source), "-d", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    data = (tmp_path / "Hang.fmu").read_bytes()
    item = InputFile(
        name="Hang.fmu",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=len(data),
        content_type="application/octet-stream",
    )
    started = time.monotonic()
    with pytest.raises(TimedOut):
        validate_within(
            validate, _envelope(tmp_path, {**CONFIG, "parameters": {}}), [(item, data)], 3.0
        )
    assert time.monotonic() - started < 15


def test_the_config_is_checked_at_save() -> None:
    spec = get_validator("fmu")
    assert spec.check(CONFIG) == []
    for config, words in [
        ({**CONFIG, "stop_time": 0.0}, "must be after"),
        ({**CONFIG, "step_size": 1e-9}, "more than"),
        ({k: v for k, v in CONFIG.items() if k != "outputs"}, "'outputs' is a required property"),
        ({**CONFIG, "inputs": {"inflow": "fast"}}, "is not of type 'number'"),
    ]:
        with pytest.raises(ConfigError, match=words):
            spec.check(config)
