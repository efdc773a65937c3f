"""Checks a JSON file against the step's schema; every violation is a finding.

jsonschema's own messages quote the submitted value (`'SSN 123-45-6789' is not of type
'integer'`). Under DO_NOT_STORE a finding says what failed and where instead: the
keyword, the JSON Pointer, and what the schema expected (schema text, never the file's);
under the other policies the message is kept, cut to MAX_MESSAGE characters.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from referencing.exceptions import Unresolvable

from shared.contract.envelopes import InputEnvelope, OutputFinding
from shared.contract.json_schema_drafts import no_retrieval, validator_class
from shared.contract.json_schema_engine import fast_validator
from shared.contract.severity import Severity
from validators.json_schema import fast_parse
from validators.payload import Payload
from validators.sandboxed_python import FindingsEngine

log = logging.getLogger(__name__)


def json_pointer(parts: object) -> str:
    """RFC 6901 pointer for a path of keys and indexes ('' is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)  # type: ignore[attr-defined]


MAX_MESSAGE = 300
# Deeper than this a document is refused before checking (Python's parser and the
# checker both recurse; a 100,000-deep file must be a finding, not a crashed job).
MAX_DEPTH = 500
# Python refuses to convert longer integers (sys.get_int_max_str_digits).
MAX_INT_DIGITS = 4300


class _Refused(ValueError):
    def __init__(self, code: str, message: str, at: int) -> None:
        super().__init__(message)
        self.code, self.message, self.at = code, message, at


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _finding(code: str, message: str, text: str, index: int) -> OutputFinding:
    line, column = _position(text, index)
    return OutputFinding(
        severity=Severity.ERROR, code=code, message=message, line=line, column=column
    )


def _scan(text: str) -> None:
    """One pass outside strings: nesting depth, NaN/Infinity and over-long integers."""
    depth, index, size = 0, 0, len(text)
    while index < size:
        char = text[index]
        if char == '"':
            index += 1
            while index < size and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(
                    "too_deep", f"the document is nested deeper than {MAX_DEPTH} levels", index
                )
        elif char in "]}":
            depth -= 1
        elif char in "NI" and text.startswith(("NaN", "Infinity"), index):
            word = "NaN" if char == "N" else "Infinity"
            raise _Refused("not_json", f"{word} is not JSON (RFC 8259 has no such number)", index)
        elif char.isdigit():
            end = index
            while end < size and text[end].isdigit():
                end += 1
            if end - index > MAX_INT_DIGITS:
                raise _Refused(
                    "number_too_long",
                    f"a number with {end - index} digits; at most {MAX_INT_DIGITS} are read",
                    index,
                )
            index = end
            continue
        index += 1


def _no_duplicates(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise _Refused(
                    "duplicate_key",
                    f"the key {key!r} appears twice in one object",
                    _second(text, key),
                )
            seen[key] = value
        return seen

    return pairs


def _second(text: str, key: str) -> int:
    """Where the repeated key is written the second time (for its line and column)."""
    needle = json.dumps(key)
    first = text.find(needle)
    second = text.find(needle, first + 1) if first >= 0 else -1
    return max(second, 0)


def _parse(text: str) -> tuple[Any, OutputFinding | None]:
    """The document, or why it cannot be checked as one (a finding with line, column)."""
    try:
        _scan(text)
        return json.loads(text, object_pairs_hook=_no_duplicates(text)), None
    except _Refused as refused:
        return None, _finding(refused.code, refused.message, text, refused.at)
    except json.JSONDecodeError as exc:
        return None, OutputFinding(
            severity=Severity.ERROR,
            code="invalid_json",
            message=f"the file is not valid JSON: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        )


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


def check(config: dict[str, Any], data: bytes, *, redact: bool = False) -> list[OutputFinding]:
    """The findings for one file. A valid file on a schema jsonschema-rs can stand in for
    (shared/contract/json_schema_engine.py) is parsed by orjson and passed by jsonschema-rs;
    everything else, and every invalid file, goes the careful way, so findings are
    always jsonschema's."""
    fast, _ = fast_validator(config)
    if fast is not None:
        instance, parsed = fast_parse.parse(data)
        try:
            if parsed and fast.is_valid(instance):
                return []
        except Exception as exc:  # noqa: BLE001 - a value rs cannot take: the careful way decides
            # By its type alone: the exception's text may quote the document.
            log.debug("jsonschema-rs could not check the document: %s", type(exc).__name__)
    return _careful(config, data, redact)


def _careful(config: dict[str, Any], data: bytes, redact: bool) -> list[OutputFinding]:
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
    instance, problem = _parse(text)
    if problem is not None:
        return [problem]
    cls = validator_class(config)
    formats = cls.FORMAT_CHECKER if config.get("format_assertion", True) else None
    validator = cls(config["schema"], format_checker=formats, registry=no_retrieval())
    try:
        errors = sorted(
            validator.iter_errors(instance),
            key=lambda e: ([str(p) for p in e.absolute_path], e.validator),
        )
    except RecursionError:
        return [_finding("too_deep", "the document is nested too deeply to check", text, 0)]
    except Unresolvable as exc:  # saved before references were checked at save time
        return [_finding("unresolvable_ref", f"the schema's $ref does not resolve: {exc}", text, 0)]
    return [
        OutputFinding(
            severity=Severity.ERROR,
            code=f"schema.{error.validator}",
            message=_message(error, redact, json_pointer(error.absolute_path)),
            path=json_pointer(error.absolute_path),
        )
        for error in errors
    ]


def findings(config: dict[str, Any], files: list[Payload], redact: bool) -> list[OutputFinding]:
    """The engine's work, run only inside a sandbox: each file checked against the
    schema. The instance is validated as a whole document, so it is read whole."""
    return [found for payload in files for found in check(config, payload.read(), redact=redact)]


def resolved_config(envelope: InputEnvelope) -> dict[str, Any]:
    """The config the engine needs, read where this process can read (no resources)."""
    return envelope.config


# The job's parent runs the engine in a sandbox; the sandbox and the fast path call it.
ENGINE = FindingsEngine(__name__, findings, resolved_config)
in_sandbox, inline, validate = ENGINE.in_sandbox, ENGINE.inline, ENGINE.validate
