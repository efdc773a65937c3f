"""Checks an FMU and simulates it with fmpy: the archive and its modelDescription.xml
(FMI version, a linux64 binary, consistent variables) first, then a simulation with
the step's start/stop time, step size, inputs, parameters and outputs. Every problem is
a finding, never a crashed job; an unknown variable name is a finding too. For each
output `y` the metrics are `y_final`, `y_min`, `y_max`, and the full result is a CSV
artifact in the run's bundle.

The simulation runs inside the runtime's child process, so the step's timeout stops an
FMU that hangs in doStep.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from shared.domain.enums import Severity
from shared.envelopes import InputEnvelope, InputFile, OutputArtifact, OutputFinding
from shared.storage import open_store
from validators.payload import Payload
from validators.runtime import ValidationResult

SUPPORTED = ("2.0", "3.0")
LINUX = ("linux64", "x86_64-linux")


def _finding(
    code: str, message: str, severity: Severity = Severity.ERROR, path: str | None = None
) -> OutputFinding:
    return OutputFinding(severity=severity, code=code, message=message[:300], path=path)


def _describe(path: Path) -> tuple[Any, list[OutputFinding]]:
    """The model description, or the findings that say why the FMU cannot be run."""
    from fmpy import read_model_description, supported_platforms
    from fmpy.validation import validate_fmu

    if not zipfile.is_zipfile(path):
        return None, [_finding("fmu.archive", "the file is not an FMU: not a zip archive")]
    with zipfile.ZipFile(path) as archive:
        if "modelDescription.xml" not in archive.namelist():
            return None, [_finding("fmu.archive", "the FMU has no modelDescription.xml")]
    try:
        description = read_model_description(str(path), validate=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's problem
        return None, [
            _finding("fmu.model_description", f"modelDescription.xml cannot be read: {exc}")
        ]
    problems = []
    if description.fmiVersion not in SUPPORTED:
        problems.append(
            _finding(
                "fmu.version",
                f"FMI {description.fmiVersion} is not supported; {list(SUPPORTED)} are",
            )
        )
    if not any(p in LINUX for p in supported_platforms(str(path))):
        problems.append(
            _finding("fmu.platform", "the FMU has no binary for linux64, where it would run")
        )
    # Deviations fmpy can still simulate (many exporters skip InitialUnknowns): warnings.
    problems += [
        _finding("fmu.model_description", str(p), Severity.WARNING)
        for p in validate_fmu(str(path)) or []
    ]
    return description, problems


def _unknown(config: dict[str, Any], names: set[str]) -> list[OutputFinding]:
    findings = []
    for field in ("inputs", "parameters"):
        for name in config.get(field) or {}:
            if name not in names:
                findings.append(
                    _finding(
                        "fmu.unknown_variable",
                        f"{field}: the FMU has no variable {name!r}",
                        path=f"/{field}/{name}",
                    )
                )
    for index, name in enumerate(config.get("outputs") or []):
        if name not in names:
            findings.append(
                _finding(
                    "fmu.unknown_variable",
                    f"outputs: the FMU has no variable {name!r}",
                    path=f"/outputs/{index}",
                )
            )
    return findings


def _inputs(config: dict[str, Any], names: set[str]) -> Any:
    """The inputs as the structured array fmpy takes (time, then one column each): a
    constant holds from start to stop; a time series ([[t, v], ...], times increasing)
    is sampled on the union of every series' times, linearly between its points and held
    before its first and after its last."""
    import numpy as np

    inputs = {k: v for k, v in (config.get("inputs") or {}).items() if k in names}
    if not inputs:
        return None
    start, stop = float(config.get("start_time", 0.0)), float(config["stop_time"])
    series = [np.asarray(v, dtype=np.float64) for v in inputs.values() if isinstance(v, list)]
    times = np.unique(np.concatenate([[start, stop], *(points[:, 0] for points in series)]))
    columns = [_column(value, times) for value in inputs.values()]
    dtype = [("time", np.float64)] + [(name, np.float64) for name in inputs]
    return np.array(list(zip(times, *columns, strict=True)), dtype=dtype)


def _column(value: Any, times: Any) -> Any:
    import numpy as np

    if isinstance(value, list):
        points = np.asarray(value, dtype=np.float64)
        return np.interp(times, points[:, 0], points[:, 1])
    return np.full(times.shape, float(value))


def _simulate(
    path: Path, config: dict[str, Any], names: set[str]
) -> tuple[Any, list[OutputFinding]]:
    from fmpy import simulate_fmu

    outputs = [n for n in config.get("outputs") or [] if n in names]
    try:
        result = simulate_fmu(
            str(path),
            start_time=float(config.get("start_time", 0.0)),
            stop_time=float(config["stop_time"]),
            step_size=float(config["step_size"]),
            output_interval=float(config["step_size"]),
            start_values={k: v for k, v in (config.get("parameters") or {}).items() if k in names},
            input=_inputs(config, names),
            output=outputs or None,
        )
    except Exception as exc:  # noqa: BLE001 - a failing FMU is a finding
        return None, [_finding("fmu.simulation_failed", f"the simulation failed: {exc}")]
    return result, []


def _metrics(result: Any, outputs: list[str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for name in outputs:
        if name in result.dtype.names:
            column = result[name]
            metrics[f"{name}_final"] = float(column[-1])
            metrics[f"{name}_min"] = float(column.min())
            metrics[f"{name}_max"] = float(column.max())
    return metrics


def _csv_artifact(envelope: InputEnvelope, result: Any) -> OutputArtifact:
    import io

    import numpy as np

    buffer = io.StringIO()
    np.savetxt(
        buffer, result, delimiter=",", header=",".join(result.dtype.names), comments="", fmt="%.17g"
    )
    data = buffer.getvalue().encode()
    uri = envelope.output_uri.rsplit("/", 1)[0] + "/result.csv"
    open_store(uri).write_bytes(uri, data, "text/csv", retain_until=envelope.retain_until)
    return OutputArtifact(
        name="result.csv", uri=uri, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)
    )


def check(config: dict[str, Any], payload: Payload) -> tuple[list[OutputFinding], Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = payload.place(Path(folder) / "model.fmu")
        description, problems = _describe(path)
        if description is None or any(p.code in ("fmu.version", "fmu.platform") for p in problems):
            return problems, None
        names = {v.name for v in description.modelVariables}
        problems += _unknown(config, names)
        result, failures = _simulate(path, config, names)
        return problems + failures, result


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    findings: list[OutputFinding] = []
    metrics: dict[str, int | float | str | None] = {}
    artifacts: list[OutputArtifact] = []
    for _, payload in files:
        problems, result = check(envelope.config, payload)
        findings += problems
        if result is not None:
            metrics.update(_metrics(result, envelope.config.get("outputs") or []))
            artifacts.append(_csv_artifact(envelope, result))
    return ValidationResult(findings=findings, metrics=metrics, artifacts=artifacts)
