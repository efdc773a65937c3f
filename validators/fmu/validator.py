"""Checks an FMU and simulates it with fmpy: the archive and its modelDescription.xml
(FMI version, a linux64 binary, consistent variables) first, then a simulation with
the step's start/stop time, step size, inputs, parameters and outputs. Every problem is
a finding, never a crashed job; an unknown variable name is a finding too. For each
output `y` the metrics are `y_final`, `y_min`, `y_max`, and the full result is a CSV
artifact in the run's bundle.

An FMU's binary is the user's own code. Everything about the FMU that can be read
without running it (the archive's members, modelDescription.xml, fmpy's validate_fmu,
the config's variable names) is checked here, in the job's process; only the simulation
runs in the sandbox (validators/sandbox.py), which hands back the result as CSV. This
process parses that CSV as numbers under the header it expects, computes the metrics and
writes the artifact: the FMU's code never writes a finding, a metric or output.json.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from shared.contract.envelopes import InputEnvelope, InputFile, OutputArtifact, OutputFinding
from shared.contract.severity import Severity
from shared.contract.validator_jobs import validator_job
from shared.contract.xml_schemas import XmlRefused, parse
from validators.fmu.comparison import compare
from validators.fmu.reference import (
    TIME,
    Reference,
    ReferenceProblem,
    Tolerance,
    chosen,
    parse_reference,
    unusable,
)
from validators.payload import Payload
from validators.redaction import FMU_METRIC_SUFFIXES
from validators.runtime import ValidationResult, own_deadline, read_resource, store_artifact
from validators.sandbox import Limits, MiB, SandboxViolation
from validators.sandboxed_python import run_python

SUPPORTED = ("2.0", "3.0")
LINUX = ("linux64", "x86_64-linux")
# What an archive may hold before it is refused unread (a zip bomb, a path out).
MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 1024 * MiB
MAX_DESCRIPTION_BYTES = 16 * MiB
# The simulation's result as the sandbox returns it.
RESULT_FILE = "result.csv"
STATUS_FILE = "status.json"
MAX_RESULT_BYTES = 256 * MiB
SANDBOX_MEMORY_BYTES = 2048 * MiB
# The artifacts the job stores (the simulation's result, its comparison with the step's
# reference), as the launch signs them.
RESULT_CSV, COMPARISON_CSV = validator_job("fmu").artifacts


def _finding(
    code: str, message: str, severity: Severity = Severity.ERROR, path: str | None = None
) -> OutputFinding:
    return OutputFinding(severity=severity, code=code, message=message[:300], path=path)


def _archive_problems(path: Path) -> list[OutputFinding]:
    """Why the archive may not be opened by an engine at all: not a zip, a member that
    would land outside its folder or is a link, too many or too large members, or a
    modelDescription.xml that declares entities (fmpy's parser would expand them)."""
    if not zipfile.is_zipfile(path):
        return [_finding("fmu.archive", "the file is not an FMU: not a zip archive")]
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
            return [_finding("fmu.archive", "the archive unpacks to more than its limits allow")]
        for member in members:
            name = member.filename
            link = (member.external_attr >> 16) & 0o170000 == 0o120000
            if link or name.startswith("/") or ".." in Path(name).parts:
                return [_finding("fmu.archive", f"the archive's member {name[:100]!r} is unsafe")]
        if "modelDescription.xml" not in archive.namelist():
            return [_finding("fmu.archive", "the FMU has no modelDescription.xml")]
        described = archive.getinfo("modelDescription.xml")
        if described.file_size > MAX_DESCRIPTION_BYTES:
            return [_finding("fmu.model_description", "modelDescription.xml is too large")]
        try:
            parse(archive.read(described))
        except XmlRefused as refused:
            return [_finding("fmu.model_description", f"modelDescription.xml: {refused}")]
    return []


def _describe(path: Path) -> tuple[Any, list[OutputFinding]]:
    """The model description, or the findings that say why the FMU cannot be run."""
    from fmpy import read_model_description, supported_platforms
    from fmpy.validation import validate_fmu

    refused = _archive_problems(path)
    if refused:
        return None, refused
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


def _simulate(path: Path, config: dict[str, Any], names: set[str]) -> Any:
    """Inside the sandbox: fmpy loads the FMU's binary and simulates it."""
    from fmpy import simulate_fmu

    outputs = [n for n in config.get("outputs") or [] if n in names]
    return simulate_fmu(
        str(path),
        start_time=float(config.get("start_time", 0.0)),
        stop_time=float(config["stop_time"]),
        step_size=float(config["step_size"]),
        output_interval=float(config["step_size"]),
        start_values={k: v for k, v in (config.get("parameters") or {}).items() if k in names},
        input=_inputs(config, names),
        output=outputs or None,
    )


def in_sandbox(config: dict[str, Any], paths: list[Path], redact: bool) -> dict[str, bytes]:
    """The engine's side: the simulation's result as CSV, or the error that stopped it."""
    names = set(config.pop("_variables"))
    try:
        result = _simulate(paths[0], config, names)
    except Exception as exc:  # noqa: BLE001 - a failing FMU is a finding
        said = "the simulation failed" if redact else f"the simulation failed: {exc}"
        return {STATUS_FILE: json.dumps({"error": said}).encode()}
    return {STATUS_FILE: b'{"error": null}', RESULT_FILE: _csv(result)}


def _csv(result: Any) -> bytes:
    import numpy as np

    buffer = io.StringIO()
    np.savetxt(
        buffer, result, delimiter=",", header=",".join(result.dtype.names), comments="", fmt="%.17g"
    )
    return buffer.getvalue().encode()


def _parsed(data: bytes, names: set[str]) -> Any:
    """The sandbox's CSV as numbers under the header this process expects: `time`, then
    distinct variables the model describes. Anything else is refused, never believed."""
    import numpy as np

    header, _, body = data.partition(b"\n")
    columns = header.decode("ascii", errors="replace").strip().split(",")
    if columns[0] != "time" or len(set(columns)) != len(columns) or not set(columns[1:]) <= names:
        raise SandboxViolation("the simulation's result has columns the model does not describe")
    try:
        values = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise SandboxViolation("the simulation's result is not a table of numbers") from None
    if values.shape[1:] != (len(columns),):
        raise SandboxViolation("the simulation's result has rows of the wrong width")
    dtype = [(name, np.float64) for name in columns]
    return np.array([tuple(row) for row in values], dtype=dtype)


def _simulated(
    path: Path, config: dict[str, Any], names: set[str], seconds: float
) -> tuple[Any, list[OutputFinding]]:
    """The simulation, run in the sandbox; its result parsed here."""
    request = {**config, "_variables": sorted(names)}
    limits = Limits(
        seconds=seconds, memory_bytes=SANDBOX_MEMORY_BYTES, tmp_bytes=MAX_UNPACKED_BYTES
    )
    with tempfile.TemporaryDirectory() as work:
        produced = run_python(
            __name__,
            request,
            [Payload(path=path)],
            redact=False,
            limits=limits,
            outputs={STATUS_FILE: 64 * 1024, RESULT_FILE: MAX_RESULT_BYTES},
            work=Path(work),
        )
    try:
        status = json.loads(produced.get(STATUS_FILE, b"null"))
        error = status["error"]
    except (ValueError, TypeError, KeyError):
        raise SandboxViolation("the simulation returned no status") from None
    if error is not None:
        return None, [_finding("fmu.simulation_failed", str(error))]
    data = produced.get(RESULT_FILE)
    if data is None:
        raise SandboxViolation("the simulation returned no result")
    return _parsed(data, names), []


def _metrics(result: Any, outputs: list[str]) -> dict[str, float]:
    """Each named output's last, least and greatest value: the names redaction's
    FMU_METRIC_SUFFIXES declare (any other is dropped under DO_NOT_STORE)."""
    metrics: dict[str, float] = {}
    for name in outputs:
        if name in result.dtype.names:
            column = result[name]
            figures = (column[-1], column.min(), column.max())
            for suffix, figure in zip(FMU_METRIC_SUFFIXES, figures, strict=True):
                metrics[f"{name}_{suffix}"] = float(figure)
    return metrics


def _csv_artifact(envelope: InputEnvelope, result: Any) -> OutputArtifact:
    """The result as CSV; under DO_NOT_STORE only the columns the step's config names
    (time and its outputs): the model's other variable names are the file's text."""
    if envelope.redact_values:
        from numpy.lib.recfunctions import repack_fields

        outputs = envelope.config.get("outputs") or []
        named = ["time", *[n for n in result.dtype.names if n in outputs]]
        result = repack_fields(result[named])
    return store_artifact(envelope, RESULT_CSV, _csv(result), "text/csv")


def check(
    config: dict[str, Any], payload: Payload, seconds: float = 60.0
) -> tuple[list[OutputFinding], Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = payload.place(Path(folder) / "model.fmu")
        description, problems = _describe(path)
        if description is None or any(p.code in ("fmu.version", "fmu.platform") for p in problems):
            return problems, None
        names = {v.name for v in description.modelVariables}
        problems += _unknown(config, names)
        result, failures = _simulated(path, config, names, seconds)
        return problems + failures, result


def _reference(envelope: InputEnvelope) -> tuple[Reference | None, list[OutputFinding]]:
    """The step's reference read from the run's bundle, or why it cannot be used (the
    save checked it; a finding here is a defence, never a crash)."""
    config = envelope.config.get("reference")
    if not isinstance(config, dict):
        return None, []
    name = str(config.get("resource"))
    data = read_resource(envelope, name)
    if data is None:
        said = f"the reference {name!r} is not among the step's resources"
        return None, [_finding("reference.invalid", said, path="/reference/resource")]
    try:
        return parse_reference(data), []
    except ReferenceProblem as problem:
        said = f"the reference {name!r}: {problem}"
        return None, [_finding("reference.invalid", said, path="/reference/resource")]


def _compared(envelope: InputEnvelope, reference: Reference, result: Any) -> ValidationResult:
    """The result against the reference: findings, the variables' errors as metrics and
    the comparison as a CSV artifact."""
    config = envelope.config["reference"]
    recorded = [n for n in result.dtype.names if n != TIME]
    findings = [
        _finding("reference.unknown_variable", why, path=path)
        for path, why in unusable(config, reference, recorded)
    ]
    variables = chosen(config, reference, recorded)
    if not variables:
        return ValidationResult(findings=findings)
    compared = compare(result, reference, variables, Tolerance.of(config))
    artifacts = []
    if compared.table is not None:
        artifacts.append(store_artifact(envelope, COMPARISON_CSV, compared.table, "text/csv"))
    return ValidationResult(
        findings=findings + compared.findings,
        metrics=dict(compared.metrics),
        artifacts=artifacts,
    )


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    until = time.monotonic() + own_deadline(envelope.timeout_seconds)
    reference, findings = _reference(envelope)
    metrics: dict[str, int | float | str | None] = {}
    artifacts: list[OutputArtifact] = []
    for _, payload in files:
        problems, result = check(envelope.config, payload, until - time.monotonic())
        findings += problems
        if result is not None:
            metrics.update(_metrics(result, envelope.config.get("outputs") or []))
            artifacts.append(_csv_artifact(envelope, result))
        if result is not None and reference is not None:
            compared = _compared(envelope, reference, result)
            findings += compared.findings
            metrics.update(compared.metrics)
            artifacts += compared.artifacts
    return ValidationResult(findings=findings, metrics=metrics, artifacts=artifacts)
