"""What is wrong with a model before it is simulated.

An epJSON is checked against the engine's `Energy+.schema.epJSON` (each violation a
finding with its JSON Pointer). An IDF's `Version` must be the engine's (a mismatch names
both); then the engine's own input processor parses it (`energyplus --convert-only`,
which reads the IDF against `Energy+.idd` and checks the result against the schema), so a
syntax error is a finding with the IDF's line and column and a field off the schema one
with its pointer, before a simulation is started. The model as epJSON (the input, or what
the converter wrote) is what its facts are read from (facts.py)."""

from __future__ import annotations

import json
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from shared.contract.envelopes import OutputFinding
from shared.contract.severity import Severity
from validators.energyplus.engine import engine, inside, payload, run_engine
from validators.energyplus.err import finding, parse_err
from validators.energyplus.forbidden import forbidden_objects
from validators.payload import Payload

_VERSION = re.compile(rb"^\s*Version\s*,\s*([0-9.]+)\s*;", re.IGNORECASE | re.MULTILINE)
MAX_SCHEMA_FINDINGS = 500
# The largest converted model whose facts are read (a 40 MB IDF converts to about this).
MAX_EPJSON_BYTES = 128 * 1024 * 1024

Model = dict[str, Any]


def check_model(payload: Payload, kind: str, deadline: float = 60.0) -> list[OutputFinding]:
    return inspect_model(payload, kind, deadline)[0]


def inspect_model(
    payload: Payload, kind: str, deadline: float = 60.0
) -> tuple[list[OutputFinding], Model | None]:
    """What is wrong with the model, and the model as epJSON when nothing stops it."""
    # Before anything else: the parse below is already a run of the engine on the model.
    refused = forbidden_objects(payload, kind)
    if refused:
        return refused, None
    _, version = engine()
    wanted = ".".join(version.split(".")[:2])
    if kind == "epjson":
        return _check_epjson(payload.read(), wanted)
    mismatch = _check_idf_version(payload, version, wanted)
    return (mismatch, None) if mismatch else _parse_idf(payload, deadline)


def _check_idf_version(payload: Payload, version: str, wanted: str) -> list[OutputFinding]:
    with payload.view() as view:
        found = _VERSION.search(view)
        declared = found.group(1).decode() if found else None
    if declared is None:
        return [finding(Severity.ERROR, "energyplus.version", "the IDF has no Version object")]
    if (declared + ".").startswith(wanted + "."):
        return []
    return [
        finding(
            Severity.ERROR,
            "energyplus.version",
            f"the model is for EnergyPlus {declared}; the engine is {version}: "
            "update the model (the engine ships a VersionUpdater)",
        )
    ]


def _parse_idf(payload: Payload, deadline: float) -> tuple[list[OutputFinding], Model | None]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = payload.place(folder / "in.idf")
        run_engine(
            ["--convert-only", inside(model.name)],
            {model.name: model},
            deadline,
            ["eplusout.err", "in.epJSON"],
            folder,
        )
        err = folder / "eplusout.err"
        text = err.read_text(errors="replace") if err.exists() else ""
        # Only what stops a simulation: the converter's warnings recur in the simulation's
        # own eplusout.err, which is reported in full.
        errors = [f for f in parse_err(text) if f.severity is Severity.ERROR]
        return errors, None if errors else _converted(folder / "in.epJSON")


def _converted(path: Path) -> Model | None:
    """The converter's epJSON (a file the sandboxed engine wrote: plain JSON, bounded)."""
    if not path.exists() or path.stat().st_size > MAX_EPJSON_BYTES:
        return None
    try:
        model = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return None
    return model if isinstance(model, dict) else None


def _check_epjson(data: bytes, wanted: str) -> tuple[list[OutputFinding], Model | None]:
    try:
        model = json.loads(data)
    except (ValueError, RecursionError) as exc:
        problem = finding(Severity.ERROR, "energyplus.epjson", f"the epJSON is not JSON: {exc}")
        return [problem], None
    findings = _schema_findings(model) + _epjson_version(model, wanted)
    if findings or not isinstance(model, dict):
        return findings, None
    # The schema allows other top-level keys (the engine ignores them with a warning):
    # they are no object type, and counting them would quote the file into the facts.
    known = _schema()["properties"]
    return findings, {kind: body for kind, body in model.items() if kind in known}


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((payload() / "Energy+.schema.epJSON").read_text())
    return schema


def _schema_findings(model: Any) -> list[OutputFinding]:
    from shared.contract.lazy_formats import defer_rfc3987

    defer_rfc3987()
    import jsonschema

    validator = jsonschema.Draft4Validator(_schema())
    errors = sorted(validator.iter_errors(model), key=lambda e: list(map(str, e.absolute_path)))
    findings = [
        finding(
            Severity.ERROR,
            "energyplus.schema",
            e.message[:300],
            "".join(f"/{p}" for p in e.absolute_path),
        )
        for e in errors[:MAX_SCHEMA_FINDINGS]
    ]
    if len(errors) > MAX_SCHEMA_FINDINGS:
        findings.append(
            finding(
                Severity.ERROR,
                "energyplus.schema",
                f"{len(errors) - MAX_SCHEMA_FINDINGS} more schema violations are not listed",
            )
        )
    return findings


def _epjson_version(model: Any, wanted: str) -> list[OutputFinding]:
    versions: dict[str, Any] = model.get("Version", {}) if isinstance(model, dict) else {}
    first: dict[str, Any] = next(iter(versions.values()), {}) if versions else {}
    declared = first.get("version_identifier") if isinstance(first, dict) else None
    if declared and not str(declared).startswith(wanted):
        return [
            finding(
                Severity.ERROR,
                "energyplus.version",
                f"the model is for EnergyPlus {declared}; the engine is {wanted}",
            )
        ]
    return []
