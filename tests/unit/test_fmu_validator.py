"""The fmu validator with fmpy on FMUs built by pythonfmu (FMI 2.0 co-simulation) and
pythonfmu3 (FMI 3.0 co-simulation and model exchange): a good run gives metrics and a
CSV, inputs are constants or time series, an FMU that fails in doStep or is not an FMU is
a finding, an unknown variable is a finding, and one that hangs is stopped at the step's
timeout."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shared.catalog.validators import ConfigError, get_validator
from shared.contract.envelopes import InputEnvelope, InputFile, ValidatorRef
from validators.fmu.validator import check, validate
from validators.payload import Payload
from validators.runtime import TimedOut, validate_within

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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


@pytest.fixture(scope="module")
def fmi3(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """tests/fmus/*.py built by pythonfmu3: Tank3 (co-simulation), Decay (model exchange)."""
    folder = tmp_path_factory.mktemp("fmi3")
    for source in ("tank3.py", "decay3.py"):
        subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                "pythonfmu3",
                "build",
                "-f",
                str(ROOT / "tests/fmus" / source),
                "-d",
                str(folder),
            ],
            check=True,
            capture_output=True,
        )
    return {p.stem: p.read_bytes() for p in folder.glob("*.fmu")}


def _files(name: str, data: bytes) -> list[tuple[InputFile, Payload]]:
    item = InputFile(
        name=name,
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=len(data),
        content_type="application/octet-stream",
    )
    return [(item, Payload(data=data))]


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
    result = validate(_envelope(tmp_path, config), [(item, Payload(path=TANK))])
    # pythonfmu leaves ModelStructure/InitialUnknowns empty: a warning, not an error.
    assert {(f.code, f.severity) for f in result.findings} == {("fmu.model_description", "WARNING")}
    assert result.metrics == {"level_final": 6.0, "level_min": 0.0, "level_max": 6.0}
    (artifact,) = result.artifacts
    csv = (tmp_path / "out" / "result.csv").read_text().splitlines()
    assert artifact.name == "result.csv" and csv[0] == "time,level" and csv[-1] == "2,6"


def test_an_unknown_variable_is_a_finding_not_a_crash() -> None:
    findings, result = check(
        {**CONFIG, "outputs": ["level", "pressure"], "parameters": {"volume": 1}},
        Payload(path=TANK),
    )
    assert {(f.code, f.path) for f in findings if f.severity == "ERROR"} == {
        ("fmu.unknown_variable", "/outputs/1"),
        ("fmu.unknown_variable", "/parameters/volume"),
    }
    assert result is not None and float(result["level"][-1]) == 2.0


def test_an_fmu_that_fails_in_do_step_is_a_finding() -> None:
    findings, result = check(
        {"stop_time": 2.0, "step_size": 0.5, "outputs": ["level"]}, Payload(path=FAILING)
    )
    assert result is None
    (finding,) = [f for f in findings if f.severity == "ERROR"]
    assert finding.code == "fmu.simulation_failed" and "fmi2DoStep failed" in finding.message


def test_a_file_that_is_not_an_fmu_is_a_finding() -> None:
    (finding,), result = check(CONFIG, Payload(data=b"not a zip at all"))
    assert (finding.code, result) == ("fmu.archive", None)


def test_an_fmu_that_hangs_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    source = tmp_path / "hang.py"
    source.write_text(HANGING)
    pythonfmu = BIN / "pythonfmu"
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
            validate,
            _envelope(tmp_path, {**CONFIG, "parameters": {}}),
            [(item, Payload(data=data))],
            3.0,
        )
    assert time.monotonic() - started < 15


def test_the_config_is_checked_at_save() -> None:
    spec = get_validator("fmu")
    assert spec.check(CONFIG) == []
    for config, words in [
        ({**CONFIG, "stop_time": 0.0}, "must be after"),
        ({**CONFIG, "step_size": 1e-9}, "more than"),
        ({k: v for k, v in CONFIG.items() if k != "outputs"}, "'outputs' is a required property"),
        ({**CONFIG, "inputs": {"inflow": "fast"}}, "inputs/inflow"),
        ({**CONFIG, "inputs": {"inflow": [[0, 1], [0, 2]]}}, r"inflow\[1\]: time 0 must be after"),
        ({**CONFIG, "inputs": {"inflow": [[0, 1, 2]]}}, "inputs/inflow"),
    ]:
        with pytest.raises(ConfigError, match=words):
            spec.check(config)
    assert spec.check({**CONFIG, "inputs": {"inflow": [[0, 0.0], [2, 4.0]]}}) == []


def test_an_input_time_series_is_interpolated(tmp_path: Path) -> None:
    # inflow ramps 0 -> 4 over two seconds; fmpy sets it at each step's start (0, .5, 1,
    # 1.5: inflow 0, 1, 2, 3), so level = sum((rate + inflow) * 0.5) = 7.
    config = {**CONFIG, "inputs": {"inflow": [[0.0, 0.0], [2.0, 4.0]]}}
    result = validate(_envelope(tmp_path, config), _files("Tank.fmu", TANK.read_bytes()))
    assert result.metrics["level_final"] == 7.0
    # Held after its last point: a series that stops at 1 s keeps inflow at 2.
    held = {**CONFIG, "inputs": {"inflow": [[0.0, 0.0], [1.0, 2.0]]}}
    # Another attempt's folder: an artifact is created once, never replaced.
    again = _envelope(tmp_path / "again", held)
    result = validate(again, _files("Tank.fmu", TANK.read_bytes()))
    assert result.metrics["level_final"] == pytest.approx((2 + 0 + 2 + 1 + 2 + 2 + 2 + 2) * 0.5)


def test_an_fmi3_co_simulation_fmu(tmp_path: Path, fmi3: dict[str, bytes]) -> None:
    config = {**CONFIG, "inputs": {"inflow": 1.0}}
    result = validate(_envelope(tmp_path, config), _files("Tank3.fmu", fmi3["Tank3"]))
    assert [f for f in result.findings if f.severity == "ERROR"] == []
    assert result.metrics == {"level_final": 6.0, "level_min": 0.0, "level_max": 6.0}


def test_an_fmi3_model_exchange_fmu_is_integrated(tmp_path: Path, fmi3: dict[str, bytes]) -> None:
    config = {"stop_time": 1.0, "step_size": 0.01, "parameters": {"k": 2.0}, "outputs": ["x"]}
    result = validate(_envelope(tmp_path, config), _files("Decay.fmu", fmi3["Decay"]))
    assert [f for f in result.findings if f.severity == "ERROR"] == []
    assert result.metrics["x_final"] == pytest.approx(math.exp(-2.0), rel=1e-3)
    assert result.metrics["x_max"] == 1.0


def _zip(members: dict[str, bytes], link: str | None = None) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16  # a symbolic link
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


ENTITIES = b"""<?xml version="1.0"?>
<!DOCTYPE fmiModelDescription [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<fmiModelDescription fmiVersion="2.0" modelName="&secret;" guid="x"/>"""


@pytest.mark.parametrize(
    ("archive", "words"),
    [
        (_zip({"modelDescription.xml": b"<x/>", "../outside.so": b"x"}), "unsafe"),
        (_zip({"modelDescription.xml": b"<x/>", "/abs/path.so": b"x"}), "unsafe"),
        (_zip({"modelDescription.xml": b"<x/>"}, link="binaries/linux64/m.so"), "unsafe"),
        (_zip({"modelDescription.xml": ENTITIES}), "modelDescription.xml"),
        (_zip({f"resources/{i}": b"" for i in range(10_001)}), "limits"),
    ],
    ids=["dot-dot", "absolute", "symlink", "entities", "too-many-members"],
)
def test_a_hostile_archive_is_refused_before_any_of_it_runs(archive: bytes, words: str) -> None:
    (finding,), result = check(CONFIG, Payload(data=archive))
    assert result is None and finding.severity == "ERROR" and words in finding.message
    assert "root:" not in finding.message  # the entity was never expanded
