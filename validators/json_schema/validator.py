"""Checks a JSON file against the step's schema; every violation is a finding.

jsonschema's own messages quote the submitted value (`'SSN 123-45-6789' is not of type
'integer'`). Under DO_NOT_STORE a finding says what failed and where instead: the
keyword, the JSON Pointer, and what the schema expected (schema text, never the file's);
under the other policies the message is kept, cut to MAX_MESSAGE characters.
"""

from __future__ import annotations

import json

from shared.domain.enums import Severity
from shared.envelopes import InputEnvelope, InputFile, OutputFinding
from shared.json_schema_drafts import validator_class
from validators.runtime import ValidationResult


def json_pointer(parts: object) -> str:
    """RFC 6901 pointer for a path of keys and indexes ('' is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)  # type: ignore[attr-defined]


MAX_MESSAGE = 300
_MAX_EXPECTED = 80


def _expected(value: object) -> str:
    """What the schema asked for, shown when it is short (it is the schema's text)."""
    if isinstance(value, (dict, list)):
        return ""
    shown = repr(value)
    return f" {shown}" if len(shown) <= _MAX_EXPECTED else ""


def redacted_message(keyword: str, expected: object, pointer: str) -> str:
    where = pointer or "the document root"
    return f"the value at {where} does not satisfy '{keyword}'{_expected(expected)}"


def _message(error: object, redact: bool, pointer: str) -> str:
    keyword = str(getattr(error, "validator", ""))
    if redact:
        return redacted_message(keyword, getattr(error, "validator_value", None), pointer)
    text = str(getattr(error, "message", ""))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def check(config: dict[str, object], data: bytes, *, redact: bool = False) -> list[OutputFinding]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return [
            OutputFinding(
                severity=Severity.ERROR,
                code="invalid_encoding",
                message=f"the file is not UTF-8: {exc.reason}",
                line=line,
                column=column,
            )
        ]
    try:
        instance = json.loads(text)
    except json.JSONDecodeError as exc:
        return [
            OutputFinding(
                severity=Severity.ERROR,
                code="invalid_json",
                message=f"the file is not valid JSON: {exc.msg}",
                line=exc.lineno,
                column=exc.colno,
            )
        ]
    cls = validator_class(config)
    validator = cls(config["schema"], format_checker=cls.FORMAT_CHECKER)
    errors = sorted(
        validator.iter_errors(instance),
        key=lambda e: ([str(p) for p in e.absolute_path], e.validator),
    )
    return [
        OutputFinding(
            severity=Severity.ERROR,
            code=f"schema.{error.validator}",
            message=_message(error, redact, json_pointer(error.absolute_path)),
            path=json_pointer(error.absolute_path),
        )
        for error in errors
    ]


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, bytes]]) -> ValidationResult:
    findings: list[OutputFinding] = []
    for _, data in files:
        findings.extend(check(envelope.config, data, redact=envelope.redact_values))
    return ValidationResult(findings=findings, metrics={"files": len(files)})
