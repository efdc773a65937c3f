"""Checks an XML file against the step's schema; every violation is a finding with its
line, column and an XPath to the element.

Parsing is hardened (shared/contract/xml_schemas.py): a file that declares entities, the way a
billion-laughs or XXE file does, is one ERROR finding and is never expanded. Under
DO_NOT_STORE a finding names the rule that failed and where (line, column, an XPath of
positions), never the file's text; the parent rebuilds it all the same
(validators/redaction.py).
"""

from __future__ import annotations

from typing import Any

from shared.contract.envelopes import InputEnvelope, OutputFinding
from shared.contract.severity import Severity
from shared.contract.xml_schemas import XmlRefused, compile_schema, parse
from validators.payload import Payload
from validators.runtime import read_resource
from validators.sandboxed_python import FindingsEngine

MAX_MESSAGE = 300
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _line_of(tree: Any, path: str | None) -> int | None:
    if not path:
        return None
    try:
        found = tree.xpath(path)
    except Exception:  # noqa: BLE001 - a report's location we cannot evaluate has no line
        return None
    return found[0].sourceline if found and hasattr(found[0], "sourceline") else None


def _positional(tree: Any, path: str | None) -> str | None:
    """The element at `path` as positions only (`/*[1]/*[3]`): under DO_NOT_STORE an
    element's name is the document's text (a tag can be anything well-formed)."""
    if not path:
        return None
    try:
        found = tree.xpath(path)
    except Exception:  # noqa: BLE001 - a location we cannot evaluate has no path
        return None
    node = found[0] if found and hasattr(found[0], "getparent") else None
    steps = []
    while node is not None:
        parent = node.getparent()
        elements = [node] if parent is None else [c for c in parent if isinstance(c.tag, str)]
        steps.append(f"*[{elements.index(node) + 1}]")
        node = parent
    return "/" + "/".join(reversed(steps)) if steps else None


def _schema_findings(
    schema_type: str, validator: Any, tree: Any, redact: bool
) -> list[OutputFinding]:
    findings = []
    for entry in validator.error_log:
        path = getattr(entry, "path", None) or None
        path = _positional(tree, path) if redact else path
        message = (
            f"the document does not satisfy the {schema_type} schema ({entry.type_name})"
            if redact
            else _cut(entry.message)
        )
        findings.append(
            OutputFinding(
                severity=Severity.ERROR,
                code=f"{schema_type}.{entry.type_name.lower()}",
                message=message,
                path=path,
                line=entry.line or None,
                column=entry.column or None,
            )
        )
    return findings


def _schematron_findings(validator: Any, tree: Any, redact: bool) -> list[OutputFinding]:
    findings = []
    report = validator.validation_report
    for failed in report.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
        location = failed.get("location")
        rule = failed.get("id") or failed.get("test") or "assertion"
        text = " ".join((failed.findtext(f"{SVRL}text") or "").split())
        severity = Severity.ERROR if failed.tag.endswith("failed-assert") else Severity.WARNING
        findings.append(
            OutputFinding(
                severity=severity,
                code="schematron." + ("assert" if severity is Severity.ERROR else "report"),
                message=f"schematron rule {rule!r} failed" if redact else _cut(text or rule),
                path=_positional(tree, location) if redact else location,
                line=_line_of(tree, location),
            )
        )
    return findings


def check(
    config: dict[str, Any], data: bytes | Payload, *, redact: bool = False
) -> list[OutputFinding]:
    schema_type = str(config.get("schema_type", ""))
    try:
        validator = compile_schema(schema_type, str(config.get("schema", "")))
        tree = parse(data)
    except XmlRefused as refused:
        return [
            OutputFinding(
                severity=Severity.ERROR,
                code="xml.refused",
                message=refused.message,
                line=refused.line,
                column=refused.column,
            )
        ]
    valid = validator.validate(tree)
    if schema_type == "schematron":
        # Successful reports are findings (WARNING) even when every assertion holds.
        return _schematron_findings(validator, tree, redact)
    return [] if valid else _schema_findings(schema_type, validator, tree, redact)


def resolved_config(envelope: InputEnvelope) -> dict[str, Any]:
    """The config with the schema's text, read from its workflow resource if it names one
    (the copy in the run's bundle, checked against the checksum the version pinned): read
    by this process, which can reach storage, never by the engine."""
    name = envelope.config.get("schema_resource")
    if not isinstance(name, str):
        return envelope.config
    data = read_resource(envelope, name)
    if data is None:
        raise ValueError(f"the input names no resource {name!r}")
    return {**envelope.config, "schema": data.decode("utf-8")}


def findings(config: dict[str, Any], files: list[Payload], redact: bool) -> list[OutputFinding]:
    """The engine's work, run only inside a sandbox: each file checked against the
    schema in `config` (its text already resolved)."""
    return [found for payload in files for found in check(config, payload, redact=redact)]


# The job's parent runs the engine in a sandbox; the sandbox and the fast path call it.
ENGINE = FindingsEngine(__name__, findings, resolved_config)
in_sandbox, inline, validate = ENGINE.in_sandbox, ENGINE.inline, ENGINE.validate
