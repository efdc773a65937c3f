"""An FMU step's `reference` (the FMI Cross-Check layout) with the real fmpy engine and
examples/Tank.fmu (level = rate * t with rate 2, sampled every 0.5 s): a reference made
from the FMU's own run and perturbed within the tolerance passes, one perturbed beyond it
is a finding naming the time and both values, reference times between the output steps
are compared with the simulation interpolated there, a malformed CSV is a finding in the
job and a 422 at save, and the comparison is a CSV artifact."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.catalog.fmu import REFERENCE_TEXT
from shared.catalog.validators import ConfigError, get_validator
from shared.contract.envelopes import InputFile
from tests.factories import input_envelope
from validators.fmu.comparison import interpolated
from validators.fmu.reference import MAX_REFERENCE_CELLS, MAX_REFERENCE_ROWS
from validators.fmu.validator import check, validate
from validators.payload import Payload
from validators.runtime import ValidationResult

ROOT = Path(__file__).resolve().parents[2]
TANK = ROOT / "examples" / "Tank.fmu"
CONFIG: dict[str, Any] = {
    "stop_time": 2.0,
    "step_size": 0.5,
    "parameters": {"rate": 2.0},
    "outputs": ["level"],
}
NAME = "tank-reference.csv"


@pytest.fixture(scope="module")
def own_run() -> Any:
    """The FMU's own result (time, level), to make references from."""
    findings, result = check(CONFIG, Payload(path=TANK))
    assert result is not None, findings
    return result


def _csv(rows: Sequence[Sequence[float]], header: tuple[str, ...] = ("time", "level")) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _run(tmp_path: Path, reference: bytes | None, **settings: Any) -> tuple[ValidationResult, Path]:
    """The step validated with `reference` as its resource; the folder its artifacts are in."""
    resources = []
    if reference is not None:
        path = tmp_path / "bundle" / "resources" / NAME
        path.parent.mkdir(parents=True)
        path.write_bytes(reference)
        resources.append(
            InputFile(
                name=NAME,
                uri=path.as_uri(),
                sha256=hashlib.sha256(reference).hexdigest(),
                size_bytes=len(reference),
                content_type="text/csv",
            )
        )
    config = {**CONFIG, "reference": {"resource": NAME, **settings}}
    out = tmp_path / "out"
    envelope = input_envelope(
        "fmu", config=config, resources=resources, output_uri=(out / "output.json").as_uri()
    )
    item = InputFile(
        name="Tank.fmu",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=TANK.stat().st_size,
        content_type="application/octet-stream",
    )
    return validate(envelope, [(item, Payload(path=TANK))]), out


def _errors(result: ValidationResult) -> list[Any]:
    return [f for f in result.findings if f.severity == "ERROR"]


def test_a_reference_from_the_fmus_own_run_within_tolerance_passes(
    tmp_path: Path, own_run: Any
) -> None:
    # Every value 0.05 % off: within the default rel_tol of 0.1 %.
    rows = [(float(t), float(v) * 1.0005) for t, v in own_run]
    result, out = _run(tmp_path, _csv(rows))
    assert _errors(result) == []
    assert result.metrics["level_final"] == 4.0  # the usual metrics stay
    assert result.metrics["level_max_abs_error"] == pytest.approx(4.0 * 0.0005)
    assert result.metrics["level_max_rel_error"] == pytest.approx(0.0005 / 1.0005)
    assert {a.name for a in result.artifacts} == {"result.csv", "reference_comparison.csv"}
    assert (out / "reference_comparison.csv").exists()


def test_a_reference_beyond_tolerance_names_the_time_and_both_values(
    tmp_path: Path, own_run: Any
) -> None:
    # 1.5 s and 2 s are 1 % off; 1 s only 0.05 %.
    off = {1.0: 1.0005, 1.5: 1.01, 2.0: 1.01}
    rows = [(float(t), float(v) * off.get(float(t), 1.0)) for t, v in own_run]
    result, _ = _run(tmp_path, _csv(rows), rel_tol=1e-3, abs_tol=1e-6)
    (finding,) = _errors(result)
    assert finding.code == "reference.mismatch" and finding.rule == "level"
    assert "at time 1.5" in finding.message
    assert "gives 3 where the reference gives 3.03" in finding.message
    assert "2 of 5 reference times fail" in finding.message
    assert result.metrics["level_max_abs_error"] == pytest.approx(0.04)
    assert result.metrics["level_max_rel_error"] == pytest.approx(0.01 / 1.01)
    # A looser tolerance admits the same reference.
    again, _ = _run(tmp_path / "again", _csv(rows), rel_tol=0.02)
    assert _errors(again) == []


def test_times_between_the_output_steps_are_interpolated(tmp_path: Path) -> None:
    # The FMU samples every 0.5 s; level = 2 t exactly, so linear interpolation is exact.
    between = [(t, 2 * t) for t in (0.1, 0.25, 0.7, 1.3, 1.99)]
    result, _ = _run(tmp_path, _csv(between), rel_tol=1e-12)
    assert _errors(result) == []
    assert result.metrics["level_max_abs_error"] == pytest.approx(0.0, abs=1e-12)
    # The value last sampled (held, not interpolated) would be off.
    held = [(0.25, 0.0), (0.7, 1.0)]
    result, _ = _run(tmp_path / "held", _csv(held))
    (finding,) = _errors(result)
    assert "at time 0.25 the simulation gives 0.5 where the reference gives 0" in finding.message
    assert "only abs_tol admits a difference" in finding.message


def test_the_comparison_csv_has_time_then_value_reference_error_tolerance(
    tmp_path: Path,
) -> None:
    rows = [(0.0, 0.0), (0.25, 0.5), (1.0, 3.0)]
    result, out = _run(tmp_path, _csv(rows), rel_tol=0.125, abs_tol=0.25)
    (finding,) = _errors(result)
    assert "at time 1 the simulation gives 2 where the reference gives 3" in finding.message
    table = list(csv.reader((out / "reference_comparison.csv").read_text().splitlines()))
    assert table == [
        ["time", "level", "level_reference", "level_error", "level_tolerance"],
        ["0.0", "0.0", "0.0", "0.0", "0.25"],
        ["0.25", "0.5", "0.5", "0.0", "0.3125"],
        ["1.0", "2.0", "3.0", "-1.0", "0.625"],
    ]
    (artifact,) = [a for a in result.artifacts if a.name == "reference_comparison.csv"]
    data = (out / "reference_comparison.csv").read_bytes()
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()


def test_reference_times_outside_the_simulation_are_a_finding(tmp_path: Path) -> None:
    result, out = _run(tmp_path, _csv([(1.0, 2.0), (2.0, 4.0), (3.0, 6.0), (4.0, 8.0)]))
    (finding,) = _errors(result)
    assert finding.code == "reference.out_of_range"
    assert "2 reference times lie outside the simulated 0 to 2 (the first: 3)" in finding.message
    assert result.metrics["level_max_abs_error"] == 0.0  # the rest is still compared
    assert len((out / "reference_comparison.csv").read_text().splitlines()) == 3


def test_variables_the_reference_or_the_run_lacks_are_findings(tmp_path: Path) -> None:
    rows = [(0.0, 0.0, 1.0), (2.0, 4.0, 1.0)]
    reference = _csv(rows, ("time", "level", "pressure"))
    # By default: the columns the run records (level); pressure is not compared.
    result, _ = _run(tmp_path, reference)
    assert _errors(result) == [] and "pressure_max_abs_error" not in result.metrics
    result, _ = _run(tmp_path / "named", reference, variables=["level", "volume", "pressure"])
    assert {(f.code, f.path) for f in _errors(result)} == {
        ("reference.unknown_variable", "/reference/variables/1"),
        ("reference.unknown_variable", "/reference/variables/2"),
    }
    assert result.metrics["level_max_abs_error"] == 0.0
    result, _ = _run(tmp_path / "none", _csv([(0.0, 1.0)], ("time", "pressure")))
    ((code, message),) = [(f.code, f.message) for f in _errors(result)]
    assert code == "reference.unknown_variable" and "'pressure'" in message


MALFORMED = [
    (b"level\n0\n", "no 'time' column"),
    (b'"time","level"\n0,zero\n', "line 2, column 'level': 'zero' is not a number"),
    (b'"time","level"\n0,nan\n', "'nan' is not a number"),
    (b'"time","level"\n0,0\n1\n', "line 3: 1 cells where the header names 2 columns"),
    (b'"time","level"\n1,2\n0.5,1\n', "row 2: time 0.5 comes before the previous row's 1"),
    (b'"time","time"\n0,0\n', "names the column 'time' twice"),
    (b'"time","level"\n', "no rows"),
    (b"", "the reference is empty"),
    (b'"time","level"\n0,\xff\n', "not UTF-8"),
    (
        b'"time","level"\n' + b"".join(b"0,0\n" for _ in range(MAX_REFERENCE_ROWS + 1)),
        f"more than {MAX_REFERENCE_ROWS:,} rows",
    ),
    (
        ",".join(["time", *(f"v{i}" for i in range(999))]).encode()
        + b"\n"
        + b"".join(b"0" + b",0" * 999 + b"\n" for _ in range(1_001)),
        f"or {MAX_REFERENCE_CELLS:,} cells",
    ),
]


@pytest.mark.parametrize(
    ("reference", "words"),
    MALFORMED,
    ids=[
        "no-time",
        "text",
        "nan",
        "short-row",
        "decreasing",
        "twice",
        "no-rows",
        "empty",
        "not-utf8",
        "too-many-rows",
        "too-many-cells",
    ],
)
def test_a_malformed_reference_is_a_finding_not_a_crash(
    tmp_path: Path, reference: bytes, words: str
) -> None:
    result, _ = _run(tmp_path, reference)
    (finding,) = _errors(result)
    assert finding.code == "reference.invalid" and words in finding.message
    assert result.metrics["level_final"] == 4.0  # the simulation still ran
    if b"\xff" not in reference:
        with pytest.raises(ConfigError, match=words):
            _saved(reference.decode())


def test_a_reference_missing_from_the_bundle_is_a_finding(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, None)
    (finding,) = _errors(result)
    assert finding.code == "reference.invalid" and "not among the step's resources" in (
        finding.message
    )


def _saved(text: str | None, **reference: Any) -> list[str]:
    """The save's check: the config, and the resource's text read in where it has one."""
    config = {**CONFIG, "reference": {"resource": NAME, **reference}}
    resolved = None if text is None else {**config, REFERENCE_TEXT: text}
    return get_validator("fmu").check(config, resolved)


def test_the_reference_is_checked_at_save() -> None:
    good = '"time","level"\n0,0\n1,2\n1,2\n2,4\n'  # a time may repeat (an event)
    assert _saved(good) == _saved(None) == []
    assert _saved(good, variables=["level"], rel_tol=0, abs_tol=0.5) == []
    cases: list[tuple[str | None, dict[str, Any], str]] = [
        (None, {"variables": ["pressure"]}, r"variables\[0\]: 'pressure' is not among"),
        (None, {"rel_tol": -1}, "reference/rel_tol"),
        (None, {"variables": []}, "reference/variables"),
        (None, {"resource": ""}, "reference/resource"),
        (None, {"tolerance": 1}, "reference"),
        ('"time","pressure"\n0,0\n', {}, r"config\.reference: none of the reference's"),
        ('"time","level"\n0,0\n3,6\n', {}, "1 reference times lie outside start_time 0"),
        ('"time","level"\n0,0\n', {"variables": ["level", "level"]}, "non-unique"),
    ]
    for text, reference, words in cases:
        with pytest.raises(ConfigError, match=words):
            _saved(text, **reference)
    outputs = {**CONFIG, "outputs": ["level", "pressure"]}
    with pytest.raises(ConfigError, match=r"variables\[1\]: the reference has no column"):
        get_validator("fmu").check(
            {**outputs, "reference": {"resource": NAME, "variables": ["level", "pressure"]}},
            {
                **outputs,
                "reference": {"resource": NAME, "variables": ["level", "pressure"]},
                REFERENCE_TEXT: good,
            },
        )


def test_an_event_is_compared_on_each_side() -> None:
    # x jumps from 1 to 5 at t = 1 (sampled twice there, as fmpy records an event).
    times = np.array([0.0, 1.0, 1.0, 2.0])
    values = np.array([0.0, 1.0, 5.0, 6.0])
    at = np.array([0.5, 1.0, 1.0, 1.5, 1.0])
    left = np.array([False, True, False, False, False])
    # Between samples the line runs from the lower one's last value to the upper one's first.
    assert interpolated(times, values, at, left).tolist() == [0.5, 1.0, 5.0, 5.5, 5.0]


def test_the_example_reference_saves_and_the_example_tank_passes_it(tmp_path: Path) -> None:
    body = json.loads((ROOT / "examples" / "tank-reference.workflow.json").read_text())
    config = body["steps"][0]["config"]
    reference = (ROOT / "examples" / NAME).read_bytes()
    assert get_validator("fmu").check(config, {**config, REFERENCE_TEXT: reference.decode()}) == []
    assert {k: v for k, v in config.items() if k not in ("reference", "start_time")} == CONFIG
    settings = {k: v for k, v in config["reference"].items() if k != "resource"}
    result, out = _run(tmp_path, reference, **settings)
    assert _errors(result) == []
    assert result.metrics["level_max_rel_error"] <= 0.001  # type: ignore[operator]
    # 21 reference times, 16 of them between the simulation's 0.5 s steps.
    assert len((out / "reference_comparison.csv").read_text().splitlines()) == 22
