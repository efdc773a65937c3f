"""Checks an XML file against the step's schema; every violation is a finding with its
line, column and an XPath to the element. A Schematron finding's severity is its rule's
(@role, then @flag: error/fatal, warning/warn, info/information), else ERROR for a failed
assert and WARNING for a fired report; `rule` is the assert/report's id, else its rule's,
else its pattern's; config `phase` selects the patterns that run. An XSLT 2/3 Schematron
runs on SaxonC-HE (shared/contract/xml_schemas.py), as a job only: its isolate reserves
more address space than the fast path allows (decision record 0080). A step may name a
built-in schema (`schema_resource`, BUILTIN_SCHEMAS): the engine reads it from this
package.

Parsing is hardened (shared/contract/xml_schemas.py): a file that declares entities, the way a
billion-laughs or XXE file does, is one ERROR finding and is never expanded. Under
DO_NOT_STORE a finding names the rule that failed and where (line, column, an XPath of
positions), never the file's text; the parent rebuilds it all the same
(validators/redaction.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from shared.contract.builtin_schemas import BUILTIN_SCHEMAS
from shared.contract.envelopes import InputEnvelope, OutputFinding
from shared.contract.severity import Severity
from shared.contract.xml_schemas import (
    MAX_BUILTIN_BYTES,
    XmlRefused,
    builtin_schema,
    compile_schema,
    needs_saxon,
    parse,
)
from validators.payload import Payload
from validators.runtime import read_resource
from validators.sandboxed_python import FindingsEngine

if TYPE_CHECKING:
    from shared.contract.envelopes import InputFile
    from validators.runtime import ValidationResult

MAX_MESSAGE = 300
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# A step of XPath 3's path(), as Saxon writes it: Q{namespace}name.
_EQNAME = re.compile(r"Q\{([^}]*)\}([^/\[\]]+)")


def xpath1(location: str | None) -> str | None:
    """A location as XPath 1, which lxml evaluates for the line: Saxon's
    `/Q{}order[1]/Q{urn:x}item[2]` is `/order[1]/*[local-name()='item' and
    namespace-uri()='urn:x'][2]`, lxml's own locations stay as they are."""

    def step(found: re.Match[str]) -> str:
        uri, name = found.groups()
        if not uri:
            return name
        return f"*[local-name()='{name}' and namespace-uri()='{uri}']"

    return None if location is None else _EQNAME.sub(step, location)


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


def _svrl_results(report: Any) -> list[tuple[Any, Any, str | None]]:
    """Each failed assert and fired report with the svrl:fired-rule before it (its rule)
    and its pattern's id: the rule's `pattern` (SchXslt2, see xml_schemas), else the
    svrl:active-pattern before the rule (lxml)."""
    results, rule, pattern = [], None, None
    for node in report.iter(
        f"{SVRL}active-pattern",
        f"{SVRL}fired-rule",
        f"{SVRL}failed-assert",
        f"{SVRL}successful-report",
    ):
        if node.tag == f"{SVRL}active-pattern":
            pattern, rule = node.get("id"), None
        elif node.tag == f"{SVRL}fired-rule":
            rule = node
        else:
            named = rule.get("pattern") if rule is not None else None
            results.append((node, rule, pattern if named is None else named or None))
    return results


def _schematron_finding(
    failed: Any, rule: Any, pattern: str | None, tree: Any, redact: bool
) -> OutputFinding:
    location = xpath1(failed.get("location"))
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
    named = rule_id or pattern
    return OutputFinding(
        severity=severity_of(failed, rule),
        code=f"schematron.{kind}",
        message=message,
        path=_positional(tree, location) if redact else location,
        line=_line_of(tree, location),
        rule=named[:MAX_RULE_ID] if named else None,
    )


def _schematron_findings(validator: Any, tree: Any, redact: bool) -> list[OutputFinding]:
    return [
        _schematron_finding(failed, rule, pattern, tree, redact)
        for failed, rule, pattern in _svrl_results(validator.validation_report)
    ]


def _schema_text(config: dict[str, Any]) -> tuple[str, int | None]:
    """The schema's text and its size limit (None: the default): the config's, or the
    built-in schema `schema_resource` names (no workflow resource has that name)."""
    if "schema" in config:
        return str(config["schema"]), None
    name = config.get("schema_resource")
    text = builtin_schema(name) if isinstance(name, str) else None
    if text is None:
        raise XmlRefused(f"no schema: {str(name)[:100]!r} is not a built-in schema")
    return text, MAX_BUILTIN_BYTES


def check(
    config: dict[str, Any], data: bytes | Payload, *, redact: bool = False
) -> list[OutputFinding]:
    schema_type = str(config.get("schema_type", ""))
    phase = None if config.get("phase") is None else str(config["phase"])
    try:
        text, limit = _schema_text(config)
        validator = (
            compile_schema(schema_type, text, phase)
            if limit is None
            else compile_schema(schema_type, text, phase, limit)
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
    if not isinstance(name, str) or "schema" in envelope.config:
        return envelope.config  # no resource, or already read
    data = read_resource(envelope, name)
    if data is None and name in BUILTIN_SCHEMAS:
        return envelope.config  # the engine reads it from this package
    if data is None:
        raise ValueError(f"the input names no resource {name!r}")
    return {**envelope.config, "schema": data.decode("utf-8")}


def findings(config: dict[str, Any], files: list[Payload], redact: bool) -> list[OutputFinding]:
    """The engine's work, run only inside a sandbox: each file checked against the
    schema in `config` (its text already resolved)."""
    return [found for payload in files for found in check(config, payload, redact=redact)]


# The job's parent runs the engine in a sandbox; the sandbox and the fast path call it.
ENGINE = FindingsEngine(__name__, findings, resolved_config)
in_sandbox = ENGINE.in_sandbox
# SaxonC's isolate reserves 32 GiB of address space for its heap when it starts (GraalVM
# native image), and stops the process if it cannot: its sandbox bounds the address
# space above that. What it uses is bounded by its heap's share of the job's memory.
SAXON_ADDRESS_SPACE = 40 * 1024**3


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    """The job's parent: the engine in a sandbox, with the address space Saxon needs
    when the schema is XSLT 2/3. The engine is named from the schema as read (a
    resource's text decides Saxon, which the envelope's config alone cannot show)."""
    from validators.xml_schema import engine_used

    config = resolved_config(envelope)
    if not needs_saxon(config):
        result = ENGINE.validate(envelope.model_copy(update={"config": config}), files)
    else:
        result = _saxon_in_sandbox(envelope, config, files)
    result.engine = engine_used(config)
    return result


def _saxon_in_sandbox(
    envelope: InputEnvelope, config: dict[str, Any], files: list[tuple[InputFile, Payload]]
) -> ValidationResult:
    import tempfile
    from pathlib import Path

    from pydantic import TypeAdapter, ValidationError

    from validators.runtime import ValidationResult, own_deadline
    from validators.sandbox import Limits, SandboxViolation
    from validators.sandboxed_python import FINDINGS_FILE, MAX_FINDINGS_BYTES, run_python

    limits = Limits(
        seconds=own_deadline(envelope.timeout_seconds), memory_bytes=SAXON_ADDRESS_SPACE
    )
    with tempfile.TemporaryDirectory() as work:
        produced = run_python(
            __name__,
            config,
            [payload for _, payload in files],
            redact=envelope.redact_values,
            limits=limits,
            outputs={FINDINGS_FILE: MAX_FINDINGS_BYTES},
            work=Path(work),
        )
    try:
        found = TypeAdapter(list[OutputFinding]).validate_json(produced[FINDINGS_FILE])
    except (KeyError, ValidationError):
        raise SandboxViolation("the engine returned no findings, or malformed ones") from None
    return ValidationResult(findings=found, metrics={"files": len(files)})


def inline(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    """The fast path's check. An XSLT 2/3 Schematron cannot start Saxon under the fast
    path's address-space bound: it is a job's (set the workflow's execution to job)."""
    import resource

    if needs_saxon(envelope.config):
        bound = resource.getrlimit(resource.RLIMIT_AS)[0]
        if bound != resource.RLIM_INFINITY and bound < SAXON_ADDRESS_SPACE:
            raise RuntimeError(
                "an xslt2/xslt3 Schematron runs as a job only: set the workflow's execution to job"
            )
    return ENGINE.inline(envelope, files)
