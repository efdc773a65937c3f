"""EnergyPlus: check the model, read its facts, simulate it, and report what the engine says.

The model is checked first (validators/energyplus/model_check.py); a model with errors
is not simulated. Its facts (facts.py) are read from it as epJSON; `preflight_only`
stops there. Then the engine runs with the step's weather file (`weather`: a
workflow resource of that name, else a file the engine bundles) or design days only,
with `timestep_per_hour`, under the step's deadline; every message of `eplusout.err` is
a finding (err.py); the tabular reports in `eplusout.sql` give the metrics (tables.py);
`eplusout.err`, `eplusout.sql`, the HTML tables and `eplusout.csv` (when produced) are
artifacts in the run's bundle. A step with `reference.metrics` compares its metrics with
them (reference.py): a finding per metric off its tolerance, and a comparison CSV.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.contract.envelopes import InputEnvelope, InputFile, OutputArtifact, OutputFinding
from shared.contract.severity import Severity
from shared.contract.validator_jobs import validator_job
from validators.energyplus.engine import bundled_weather, engine, inside, run_engine
from validators.energyplus.err import counts, finding, parse_err
from validators.energyplus.facts import model_facts
from validators.energyplus.model_check import inspect_model
from validators.energyplus.reference import CSV_NAME, compare
from validators.energyplus.tables import ERR_METRICS, metrics
from validators.payload import Payload
from validators.runtime import ValidationResult, own_deadline, read_resource, store_artifact

# The engine's reports kept from its run (the job's other artifact is our comparison CSV:
# a file of that name the engine left would not be taken).
ARTIFACTS = tuple(n for n in validator_job("energyplus").artifacts if n != CSV_NAME)
# Kept for writing output.json and calling back once the engine has stopped.
MARGIN_SECONDS = 2.0


def weather_file(envelope: InputEnvelope, folder: Path) -> tuple[str, Path] | None:
    """The EPW the step names, as (the engine's argument, the file to give the sandbox):
    a workflow resource of that name (from the run's bundle, checked against its pin)
    wins over a file the engine bundles (which the sandbox sees where it is)."""
    name = envelope.config.get("weather")
    if not isinstance(name, str):
        return None
    data = read_resource(envelope, name)
    if data is None:
        bundled = bundled_weather(name)
        return str(bundled), bundled
    path = folder / "weather.epw"
    path.write_bytes(data)
    return inside(path.name), path


def simulate(
    model: Path, config: dict[str, Any], weather: tuple[str, Path] | None, deadline: float
) -> Path:
    """Runs the simulation in the sandbox; the reports it wrote are in the folder returned."""
    arguments = []
    inputs = {model.name: model}
    if weather is not None:
        argument, path = weather
        arguments += ["-w", argument]
        if argument.startswith(inside("")):
            inputs[path.name] = path
    # -D: the sizing periods only. Otherwise the model's SimulationControl and RunPeriods
    # say what runs (not -a, which would stretch any RunPeriod to a whole year).
    if config.get("design_days_only", weather is None):
        arguments.append("-D")
    if model.suffix == ".idf":
        arguments.append("--expandobjects")
    out = model.parent / "out"
    out.mkdir()
    run_engine([*arguments, inside(model.name)], inputs, deadline, ARTIFACTS, out)
    return out


def _place_model(payload: Payload, model: Path, kind: str, per_hour: int | None) -> None:
    """The model as the engine reads it: the streamed file itself, or, when the step
    overrides the timestep, rewritten (that one case reads the model's text whole)."""
    if not per_hour or kind != "idf":
        payload.place(model)
        return
    model.write_bytes(_timestep(payload.read(), per_hour))


def _timestep(data: bytes, per_hour: int) -> bytes:
    text = data.decode("utf-8", errors="replace")
    replaced, count = re.subn(
        r"^\s*Timestep\s*,\s*\d+\s*;",
        f"Timestep,{per_hour};",
        text,
        flags=re.IGNORECASE | re.MULTILINE,
    )
    return (replaced if count else text + f"\nTimestep,{per_hour};\n").encode()


def _artifacts(envelope: InputEnvelope, out: Path) -> list[OutputArtifact]:
    """The engine's reports, stored for the run; none under DO_NOT_STORE: every one of
    them quotes the model (its object names, its fields), and they would outlive it."""
    if envelope.redact_values:
        return []
    return [
        store_artifact(envelope, name, (out / name).read_bytes())
        for name in ARTIFACTS
        if (out / name).exists()
    ]


def _simulated(
    envelope: InputEnvelope, payload: Payload, kind: str, until: float
) -> tuple[list[OutputFinding], dict[str, float | None], list[OutputArtifact]]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = folder / f"in.{kind}"
        _place_model(payload, model, kind, envelope.config.get("timestep_per_hour"))
        weather = weather_file(envelope, folder)
        out = simulate(model, envelope.config, weather, until - time.monotonic())
        figures: dict[str, float | None] = metrics(out / "eplusout.sql")
        err = out / "eplusout.err"
        if err.exists():
            text = err.read_text(errors="replace")
            figures.update(counts(text))
            findings = parse_err(text)
        else:
            figures.update(dict.fromkeys(ERR_METRICS))
            no_output = "EnergyPlus wrote no eplusout.err"
            findings = [finding(Severity.ERROR, "energyplus.no_output", no_output)]
        return findings, figures, _artifacts(envelope, out)


def _compared(envelope: InputEnvelope, result: ValidationResult) -> None:
    """The step's metrics against `reference.metrics`. The CSV holds numbers and the
    metric names of the step's config only, so it is kept under DO_NOT_STORE too."""
    outcome = compare(envelope.config, result.metrics)
    if outcome is None:
        return
    result.findings += outcome.findings
    result.metrics.update(outcome.metrics)
    result.artifacts.append(store_artifact(envelope, CSV_NAME, outcome.csv, "text/csv"))


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    until = time.monotonic() + own_deadline(envelope.timeout_seconds) - MARGIN_SECONDS
    result = ValidationResult()
    preflight = bool(envelope.config.get("preflight_only"))
    for item, payload in files:
        kind = "epjson" if item.name.lower().endswith(".epjson") else "idf"
        problems, model = inspect_model(payload, kind, until - time.monotonic())
        result.findings += problems
        if model is not None:
            result.facts.update(model_facts(model, engine()[1]))
        if preflight or any(p.severity is Severity.ERROR for p in problems):
            continue
        findings, figures, artifacts = _simulated(envelope, payload, kind, until)
        result.findings += findings
        result.metrics.update(figures)
        result.artifacts += artifacts
    # Only what simulated is compared: a refused model's findings already say why.
    if result.metrics:
        _compared(envelope, result)
    return result
