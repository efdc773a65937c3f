"""Findings under DO_NOT_STORE, rewritten by the parent from what it can vouch for.

An engine's messages quote the file: a value, a key, a tag name, an EnergyPlus object
name, an FMU's variable. Asking each engine to leave them out is a blacklist kept by the
code that reads the file, and the engine runs in a sandbox precisely because it is not
trusted. So the parent (the job's own process, or the api on the fast path) rebuilds
every finding from parts that cannot carry the file's text:

- the message: a fixed sentence for the finding's class (its code), never the engine's;
  a code the parent does not know becomes `finding.withheld`;
- the location: line and column (numbers); a path only when it is one, each step of it
  kept when it is an index or a word of the step's config (a schema's property names,
  an element name the schema declares) or of the engine's own vocabulary (EnergyPlus's
  object types and fields), else written `*`. Positions stay (`/*[2]/*[1]`);
- metrics: numbers only; the step error: the sentence of its class.

Decision record 0027.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from shared.envelopes import OutputFinding

WITHHELD = "finding.withheld"

# One sentence per class of finding. None of them is built from an engine's words.
MESSAGES: dict[str, str] = {
    WITHHELD: "the check reported a problem it cannot describe without quoting the file",
    # json-schema: the file itself
    "invalid_json": "the file is not valid JSON",
    "invalid_encoding": "the file is not UTF-8",
    "too_deep": "the document is nested too deeply to check",
    "not_json": "the file holds a number JSON has no form for (NaN or Infinity)",
    "number_too_long": "a number has more digits than are read",
    "duplicate_key": "a key appears twice in one object",
    "unresolvable_ref": "the schema's $ref does not resolve",
    # xml-schema
    "xml.refused": "the file is not well-formed XML, or declares entities",
    "schematron.assert": "a schematron assertion failed",
    "schematron.report": "a schematron report fired",
    # energyplus
    "energyplus.warning": "EnergyPlus reported a warning",
    "energyplus.severe": "EnergyPlus reported a severe error",
    "energyplus.fatal": "EnergyPlus reported a fatal error",
    "energyplus.no_output": "EnergyPlus wrote no eplusout.err",
    "energyplus.version": "the model is for another EnergyPlus version than the engine",
    "energyplus.schema": "the epJSON model does not satisfy EnergyPlus's schema",
    "energyplus.epjson": "the epJSON model is not JSON",
    "energyplus.forbidden_object": "the model holds an object that would load code or files",
    "energyplus.forbidden_macro": "the model holds a macro that would read other files",
    # fmu
    "fmu.archive": "the FMU's archive cannot be used",
    "fmu.model_description": "the FMU's modelDescription.xml has a problem",
    "fmu.version": "the FMU's FMI version is not supported",
    "fmu.platform": "the FMU has no binary for linux64",
    "fmu.unknown_variable": "the step's config names a variable the FMU does not have",
    "fmu.simulation_failed": "the simulation failed",
    # the runtime, around any engine
    "runtime.timed_out": "the check did not finish within the step's timeout",
    "runtime.memory": "the check needed more memory than it is given",
    "runtime.error": "the check failed",
    "runtime.malformed": "the check's answer is malformed",
    "sandbox.unavailable": "the engine could not be run in its sandbox",
    "sandbox.violation": "the engine did what its sandbox does not allow",
}

# JSON Schema's keywords (every draft Assay accepts): `schema.<keyword>` codes.
SCHEMA_KEYWORDS = frozenset(
    [
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
        "additionalItems",
        "additionalProperties",
        "allOf",
        "anyOf",
        "const",
        "contains",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "disallow",
        "divisibleBy",
        "else",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "extends",
        "false",
        "format",
        "if",
        "items",
        "maxContains",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minContains",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "not",
        "oneOf",
        "pattern",
        "patternProperties",
        "prefixItems",
        "properties",
        "propertyNames",
        "required",
        "then",
        "type",
        "unevaluatedItems",
        "unevaluatedProperties",
        "uniqueItems",
    ]
)
XML_SCHEMA_TYPES = ("xsd", "relaxng", "dtd")
# A step of a path: a name (or nothing) with at most one position.
_STEP = re.compile(r"^(?P<name>[^\[\]]*)(?P<position>(?:\[\d+\])?)$")
_ANY = ("", "*", "@*", "text()", "node()")


@cache
def _libxml_errors() -> frozenset[str]:
    """libxml2's error names, as lxml's error log gives them (`SCHEMAV_ELEMENT_CONTENT`)."""
    try:
        from lxml import etree
    except ImportError:  # an image without lxml runs no XML engine
        return frozenset()
    return frozenset(name.lower() for name in dir(etree.ErrorTypes) if name.isupper())


def safe_code(code: str) -> str:
    """`code` when the parent knows it as a class of finding, else WITHHELD."""
    if code in MESSAGES:
        return code
    family, _, kind = code.partition(".")
    if family == "schema" and kind in SCHEMA_KEYWORDS:
        return code
    if family in XML_SCHEMA_TYPES and kind in _libxml_errors():
        return code
    return WITHHELD


def message(code: str) -> str:
    """The sentence for a (safe) code."""
    family, _, kind = code.partition(".")
    if family == "schema":
        return f"the value does not satisfy the schema's '{kind}'"
    if family in XML_SCHEMA_TYPES:
        return f"the document does not satisfy the {family} schema ({kind.upper()})"
    return MESSAGES[code]


def _step(raw: str, vocabulary: frozenset[str]) -> str:
    matched = _STEP.match(raw)
    if matched is None:
        return "*"
    name, position = matched["name"], matched["position"]
    # A JSON Pointer's escapes: the key as the schema spells it.
    key = name.replace("~1", "/").replace("~0", "~")
    kept = name in _ANY or name.isdigit() or key in vocabulary or name in vocabulary
    return (name if kept else "*") + position


def safe_path(path: str | None, vocabulary: frozenset[str]) -> str | None:
    """A path of the file's structure, each step an index, a position or a word of the
    vocabulary; None for anything that is not a path from the root."""
    if path is None or path == "":
        return path
    if not path.startswith("/"):
        return None
    return "/".join(_step(part, vocabulary) for part in path.split("/"))


def words(config: Any) -> frozenset[str]:
    """Every word of a step's config (keys and string values, and the names in a
    schema's text): what the workflow's author wrote, never the file."""
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            found.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.add(item)
            found.update(re.findall(r"[A-Za-z_][\w.:-]*", item))
    return frozenset(found)


@cache
def _energyplus_words() -> frozenset[str]:
    """EnergyPlus's object types and field names, from the engine's own schema."""
    import json

    from validators.energyplus.engine import payload

    schema = json.loads((payload() / "Energy+.schema.epJSON").read_text())
    found = set()
    for kind, spec in schema.get("properties", {}).items():
        found.add(kind)
        for pattern in spec.get("patternProperties", {}).values():
            found.update(pattern.get("properties", {}))
    return frozenset(found)


# Words an engine's own vocabulary adds, by validator (loaded only where it runs).
ENGINE_WORDS: dict[str, Callable[[], frozenset[str]]] = {"energyplus": _energyplus_words}


def vocabulary(validator: str, config: Any) -> frozenset[str]:
    extra = ENGINE_WORDS.get(validator)
    try:
        engine = extra() if extra is not None else frozenset()
    except Exception:  # noqa: BLE001 - without the engine's words, fewer steps are kept
        engine = frozenset()
    return words(config) | engine


def finding(found: OutputFinding, vocabulary: frozenset[str]) -> OutputFinding:
    code = safe_code(found.code)
    path = safe_path(found.path, vocabulary)
    where = [f"at {path}" if path else "at the document root"] if path is not None else []
    if found.line is not None:
        where.append(f"line {found.line}" + (f", column {found.column}" if found.column else ""))
    said = message(code) + (f" ({'; '.join(where)})" if where else "")
    return OutputFinding(
        severity=found.severity,
        code=code,
        message=said,
        path=path,
        line=found.line,
        column=found.column,
    )


def findings(found: Iterable[OutputFinding], validator: str, config: Any) -> list[OutputFinding]:
    known = vocabulary(validator, config)
    return [finding(f, known) for f in found]


def metrics(values: Mapping[str, Any]) -> dict[str, int | float | str | None]:
    """Numbers only: a text metric could quote the file."""
    return {
        k: (v if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
        for k, v in values.items()
    }


def error(code: str | None) -> str:
    """A step's error, as the sentence of its class."""
    return message(safe_code(code or "runtime.error"))
