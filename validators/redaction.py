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
- line and column: numbers the file bounds (a line the file has, a column its line
  has, where the file is at hand; below its largest possible size where it is not);
- metrics: numbers only, under the names the validator declares; artifacts: only those
  the validator's job declares, at the one uri each is written to; the step error: the
  sentence of its class; the validator's version: the shape of a release.

The same rebuild runs twice: where output.json is written (`output`, in the runtime)
and where it is stored (the callback, which trusts no output.json: a sandbox escape or a
parsing bug writes what it likes there). Decision record 0027.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from shared.contract.envelopes import (
    FactScalar,
    FactValue,
    OutputArtifact,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
    ValidatorRef,
)

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
    "xml.refused": (
        "the file is not well-formed XML or declares entities, or the schema cannot be "
        "applied (an unknown phase, a refused read)"
    ),
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
    # shacl (pySHACL): a result names the data's nodes and values, so only its class
    "shacl.violation": "a SHACL shape's constraint is violated",
    "shacl.warning": "a SHACL shape's constraint gives a warning",
    "shacl.info": "a SHACL shape's constraint gives a note",
    "shacl.format": "the file is in no RDF syntax the validator reads",
    "shacl.malformed": "the file is not valid RDF in its syntax",
    "shacl.refused": "the file or the shapes ask for something the validator refuses",
    "shacl.shapes": "the shapes could not be applied to the file",
    "shacl.ontology": "an ontology resource cannot be read",
    # references (fmu, energyplus)
    "reference.mismatch": "a value differs from the reference by more than the tolerance",
    "reference.invalid": "the step's reference cannot be used",
    "reference.unknown_variable": "the reference or the result lacks a variable the step compares",
    "reference.out_of_range": "reference times lie outside the simulated time",
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


# No file Assay takes holds more bytes than this (`max_object_bytes`' default), so no
# line or column lies beyond it. Where the file is at hand the file bounds them itself.
MAX_POSITION: Final = 5 * 1024**3 + 1


def position(
    line: int | None, column: int | None, lines: Sequence[int] | None, bound: int = MAX_POSITION
) -> tuple[int | None, int | None]:
    """(line, column) when the file has that place, else what of it it has; `lines` is
    each line's length in bytes, None where the file is not at hand (then `bound`). A
    column may point just past its line's end (where a parser met the newline)."""
    count = len(lines) if lines is not None else bound
    if line is None or not 1 <= line <= count:
        return None, None
    width = lines[line - 1] + 1 if lines is not None else bound
    return line, column if column is not None and 0 <= column <= width else None


def line_lengths(chunks: Iterable[bytes]) -> list[int]:
    """Each line's length in bytes (a file's last line may have no newline)."""
    lengths, current = [], 0
    for chunk in chunks:
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            lengths.append(current + len(part))
            current = 0
        current += len(parts[-1])
    lengths.append(current)
    return lengths


def finding(
    found: OutputFinding,
    vocabulary: frozenset[str],
    lines: Sequence[int] | None = None,
    bound: int = MAX_POSITION,
) -> OutputFinding:
    code = safe_code(found.code)
    path = safe_path(found.path, vocabulary)
    line, column = position(found.line, found.column, lines, bound)
    where = [f"at {path}" if path else "at the document root"] if path is not None else []
    if line is not None:
        where.append(f"line {line}" + (f", column {column}" if column else ""))
    said = message(code) + (f" ({'; '.join(where)})" if where else "")
    # A rule is kept when the author wrote it (a schema's rule id, a shape, a variable).
    rule = found.rule if found.rule is not None and found.rule in vocabulary else None
    return OutputFinding(
        severity=found.severity,
        code=code,
        message=said,
        path=path,
        line=line,
        column=column,
        rule=rule,
    )


def findings(
    found: Iterable[OutputFinding],
    validator: str,
    config: Any,
    lines: Sequence[int] | None = None,
    bound: int = MAX_POSITION,
) -> list[OutputFinding]:
    known = vocabulary(validator, config)
    return [finding(f, known, lines, bound) for f in found]


# The metrics each validator declares, by name; under DO_NOT_STORE any other goes (an
# engine, or whatever wrote output.json, could name one after the file's text).
FILES_METRIC: Final = "files"  # the findings engines' (JSON Schema, XML)
ENERGYPLUS_METRICS: Final = (  # validators/energyplus/tables.py's METRICS (a test holds them)
    "site_electricity_kwh",
    "site_natural_gas_kwh",
    "district_heating_kwh",
    "district_cooling_kwh",
    "heating_kwh",
    "cooling_kwh",
    "interior_lighting_kwh",
    "fans_kwh",
    "pumps_kwh",
    "site_eui_kwh_m2",
    "conditioned_area_m2",
    "unmet_heating_hours",
    "unmet_cooling_hours",
    "peak_electric_demand_w",
    "site_energy_kwh",
    "heating_electricity_kwh",
    "heating_natural_gas_kwh",
    "heating_propane_kwh",
    "heating_fuel_oil_kwh",
    "heating_district_heating_kwh",
    "heating_district_cooling_kwh",
    "heating_other_fuel_kwh",
    "cooling_electricity_kwh",
    "cooling_natural_gas_kwh",
    "cooling_propane_kwh",
    "cooling_fuel_oil_kwh",
    "cooling_district_heating_kwh",
    "cooling_district_cooling_kwh",
    "cooling_other_fuel_kwh",
    "water_m3",
    "unmet_occupied_hours",
    "warnings",
    "severe_errors",
)
SHACL_METRICS: Final = frozenset({FILES_METRIC, "violations", "warnings", "infos", "conforms"})
# An FMU step's metrics: `<output>_<suffix>` for each output its config names.
FMU_METRIC_SUFFIXES: Final = ("final", "min", "max")
# ... and, with a reference, `<variable>_<suffix>` for each it compares (all are outputs).
FMU_REFERENCE_SUFFIXES: Final = ("max_abs_error", "max_rel_error")


_VERSION = re.compile(r"\d{1,4}(\.\d{1,4}){0,3}")


def _fact(value: Any) -> FactScalar:
    """A fact's value when it cannot carry the file's text: a finite number, a truth
    value, or a version number; else null (withheld)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    if isinstance(value, str) and _VERSION.fullmatch(value):
        return value
    return None


# validators/energyplus/facts.py's model_facts (a test holds them).
ENERGYPLUS_FACTS: Final = (
    "version",
    "energyplus_version",
    "zone_count",
    "surface_count",
    "fenestration_count",
    "shading_surface_count",
    "has_hvac",
    "conditioned_zone_count",
    "timesteps_per_hour",
    "run_period_count",
    "run_period_days",
    "sizing_period_count",
    "object_counts",
)
DECLARED_FACTS: Final = {"energyplus": frozenset(ENERGYPLUS_FACTS)}


def facts(
    values: Mapping[str, Any], validator: str, vocabulary: frozenset[str]
) -> dict[str, FactValue]:
    """The facts a validator read, under the names it declares, each map key kept only
    when it is a word of the step's config or the engine's vocabulary (an EnergyPlus
    object type), each value only when it is a number, a truth value or a version."""
    declared = DECLARED_FACTS.get(validator, frozenset())
    kept: dict[str, FactValue] = {}
    for name, value in values.items():
        if name not in declared:
            continue
        if isinstance(value, Mapping):
            kept[name] = {k: _fact(v) for k, v in value.items() if k in vocabulary}
        else:
            kept[name] = _fact(value)
    return kept


def _compared(config: Mapping[str, Any]) -> frozenset[str]:
    """An EnergyPlus step's errors against its reference: two metrics per metric its
    config compares (names the author wrote, or the pinned reference run's)."""
    reference = config.get("reference")
    compared = reference.get("metrics") if isinstance(reference, Mapping) else None
    names = [n for n in compared if isinstance(n, str)] if isinstance(compared, Mapping) else []
    return frozenset(f"{n}_ref_{kind}_error" for n in names for kind in ("abs", "rel"))


def declared_metrics(validator: str, config: Mapping[str, Any]) -> frozenset[str]:
    if validator in ("json-schema", "xml-schema"):
        return frozenset([FILES_METRIC])
    if validator == "shacl":
        return SHACL_METRICS
    if validator == "energyplus":
        return frozenset(ENERGYPLUS_METRICS) | _compared(config)
    if validator == "fmu":
        outputs = config.get("outputs")
        named = [o for o in outputs if isinstance(o, str)] if isinstance(outputs, list) else []
        suffixes = FMU_METRIC_SUFFIXES + (FMU_REFERENCE_SUFFIXES if config.get("reference") else ())
        return frozenset(f"{o}_{suffix}" for o in named for suffix in suffixes)
    return frozenset()


def metrics(
    values: Mapping[str, Any], declared: frozenset[str]
) -> dict[str, int | float | str | None]:
    """The declared metrics, numbers only (finite): a text metric could quote the file."""
    return {
        k: (
            v
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            else None
        )
        for k, v in values.items()
        if k in declared
    }


def declared_artifacts(validator: str) -> tuple[str, ...]:
    """The files the validator's job may store (shared/contract/validator_jobs.py)."""
    try:
        from shared.contract.validator_jobs import validator_job
    except ImportError:  # an image whose validator stores none does not ship the module
        return ()
    try:
        return validator_job(validator).artifacts
    except LookupError:
        return ()


_SHA256 = re.compile(r"[0-9a-f]{64}")


def artifacts(found: Iterable[OutputArtifact], validator: str, folder: str) -> list[OutputArtifact]:
    """The declared artifacts at the uri each is written to (`{folder}/{name}`), with a
    checksum only when it is one and a size only when a file can have it."""
    declared = declared_artifacts(validator)
    return [
        OutputArtifact(
            name=a.name,
            uri=a.uri,
            sha256=a.sha256 if a.sha256 and _SHA256.fullmatch(a.sha256) else None,
            size_bytes=a.size_bytes
            if a.size_bytes is not None and 0 <= a.size_bytes <= MAX_POSITION
            else None,
        )
        for a in found
        if a.name in declared and a.uri == f"{folder}/{a.name}"
    ]


# A validator's version as Assay sets it: a release's commit, an image built without
# one, or the catalog's version (the fast path).
_VERSION = re.compile(r"dev|[0-9a-f]{7,40}|\d{1,6}(?:\.\d{1,6}){0,3}")


def version(said: str) -> str:
    return said if _VERSION.fullmatch(said) else "withheld"


# The engines a validator may name (output.json's `engine`), and a release's version.
ENGINES = frozenset(
    {"jsonschema-rs", "jsonschema", "lxml", "saxonche", "pyshacl", "fmpy", "energyplus"}
)
_RELEASE = re.compile(r"\d{1,6}(?:\.\d{1,6}){0,3}(?:(?:a|b|rc|\.post|\.dev)\d{1,6})?")


def engine(said: ValidatorRef | None) -> ValidatorRef | None:
    """The engine a validator names, kept only when it is one of ENGINES at a version
    with a release's shape: anything else could carry what the file made it say."""
    if said is None or said.name not in ENGINES or not _RELEASE.fullmatch(said.version):
        return None
    return said


def error(code: str | None) -> str:
    """A step's error, as the sentence of its class."""
    return message(safe_code(code or "runtime.error"))


@dataclass(frozen=True)
class Scope:
    """What a step's output is rebuilt against: its validator and config, the attempt's
    folder (an artifact's uri is `{folder}/{name}`), and what bounds a position."""

    validator: str
    config: Mapping[str, Any]
    folder: str
    # Each line's length in bytes when the file is at hand; else `bound` limits both.
    lines: Sequence[int] | None = None
    bound: int = MAX_POSITION


def output(found: OutputEnvelope, scope: Scope) -> OutputEnvelope:
    """A step's output under DO_NOT_STORE, every field the file could reach rebuilt from
    what the parent vouches for. Rebuilding a rebuilt output changes nothing."""
    rebuilt = findings(found.findings, scope.validator, scope.config, scope.lines, scope.bound)
    known = vocabulary(scope.validator, scope.config) if found.facts else frozenset()
    said = None
    if found.error is not None:
        timed_out = found.status is OutputStatus.TIMED_OUT
        said = error("runtime.timed_out" if timed_out else (rebuilt[0].code if rebuilt else None))
    return found.model_copy(
        update={
            "findings": rebuilt,
            "metrics": metrics(found.metrics, declared_metrics(scope.validator, scope.config)),
            "facts": facts(found.facts, scope.validator, known),
            "artifacts": artifacts(found.artifacts, scope.validator, scope.folder),
            "error": said,
            "validator": ValidatorRef(
                name=scope.validator, version=version(found.validator.version)
            ),
            "engine": engine(found.engine),
        }
    )
