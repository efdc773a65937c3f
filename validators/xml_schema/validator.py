"""Checks an XML file against the step's schema; every violation is a finding with its
line, column and an XPath to the element. A Schematron finding's severity is its rule's
(@role, then @flag: error/fatal, warning/warn, info/information), else ERROR for a failed
assert and WARNING for a fired report; it names the rule's id; config `phase` selects the
patterns that run.

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


# A rule's @role or @flag, lower-cased, as a severity; other words leave it to the next.
SEVERITY_WORDS = {
    "error": Severity.ERROR,
    "fatal": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "info": Severity.INFO,
    "information": Severity.INFO,
}
MAX_RULE_ID = 100


def severity_of(failed: Any, rule: Any) -> Severity:
    """The assertion's @role, else its rule's @role, else its @flag (or its rule's),
    the first a severity word; else an assert ERROR and a report WARNING."""
    rule_role = rule.get("role") if rule is not None else None
    for word in (failed.get("role"), rule_role, failed.get("flag")):
        severity = SEVERITY_WORDS.get((word or "").strip().lower())
        if severity is not None:
            return severity
    return Severity.ERROR if failed.tag == f"{SVRL}failed-assert" else Severity.WARNING


def _svrl_results(report: Any) -> list[tuple[Any, Any]]:
    """Each failed assert and fired report with the svrl:fired-rule before it (its rule)."""
    results, rule = [], None
    for node in report.iter(
        f"{SVRL}fired-rule", f"{SVRL}failed-assert", f"{SVRL}successful-report"
    ):
        if node.tag == f"{SVRL}fired-rule":
            rule = node
        else:
            results.append((node, rule))
    return results


def _schematron_finding(failed: Any, rule: Any, tree: Any, redact: bool) -> OutputFinding:
    location = failed.get("location")
    rule_id = failed.get("id") or (rule.get("id") if rule is not None else None)
    label = rule_id or failed.get("test") or "assertion"
    text = " ".join((failed.findtext(f"{SVRL}text") or "").split())
    if redact:
        message = f"schematron rule {label!r} failed"
    elif text and rule_id:
        message = f"{_cut(text)} (rule {rule_id[:MAX_RULE_ID]!r})"
    else:
        message = _cut(text or label)
    kind = "assert" if failed.tag == f"{SVRL}failed-assert" else "report"
    return OutputFinding(
        severity=severity_of(failed, rule),
        code=f"schematron.{kind}",
        message=message,
        path=_positional(tree, location) if redact else location,
        line=_line_of(tree, location),
    )


def _schematron_findings(validator: Any, tree: Any, redact: bool) -> list[OutputFinding]:
    return [
        _schematron_finding(failed, rule, tree, redact)
        for failed, rule in _svrl_results(validator.validation_report)
    ]


def check(
    config: dict[str, Any], data: bytes | Payload, *, redact: bool = False
) -> list[OutputFinding]:
    schema_type = str(config.get("schema_type", ""))
    phase = config.get("phase")
    try:
        validator = compile_schema(
            schema_type, str(config.get("schema", "")), None if phase is None else str(phase)
        )
        tree = parse(data)
        # The resolver refuses what a stylesheet would read while it runs (XmlRefused).
        valid = validator.validate(tree)
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
    if schema_type == "schematron":
        # Fired reports are findings even when every assertion holds.
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
