"""Which engine answers "is this file valid?" for a json-schema step, decided per schema.

jsonschema-rs (Rust) is ~100x faster than jsonschema on a large file, but not the same
library: measured on the official JSON-Schema-Test-Suite (drafts 2020-12 and 7), they
disagree on `dependencies` in 2020-12, `contentMediaType`/`contentEncoding` in draft 7,
`multipleOf` with floats, the regex dialect (`\\d \\w \\s`, `$`, `.`), and several
formats. `fast_validator(config)` builds a jsonschema-rs validator with jsonschema's own
semantics where they differ (`pattern` by Python's `re`, `multipleOf` and every format
by jsonschema's own functions, the keywords jsonschema does not implement for the draft
ignored, no retrieval at all), and refuses (None, with the reasons) a schema whose
`patternProperties` keys could mean something else in rs's regex engine, or that rs
cannot build. For the schemas it accepts, every case of the suite gets the same verdict.

The json-schema validator uses it for the verdict only: a valid file is done; an invalid
one is checked again by jsonschema for its findings, so findings (codes, paths,
messages) are jsonschema's, byte for byte. Saving a workflow records the engine the
step gets (`engine` on the version's step); the job decides again with this same code.
"""

from __future__ import annotations

import json
import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parser  # type: ignore[import-not-found]
from functools import lru_cache
from typing import Any

from shared.contract.json_schema_drafts import DraftError, validator_class

FAST, CAREFUL = "jsonschema-rs", "jsonschema"
# Keys whose values are data, not subschemas.
_NOT_SCHEMAS = ("enum", "const", "examples", "default")
_ANCHORS = {sre_constants.AT_BEGINNING, sre_constants.AT_END}


class _Ignore:
    """A keyword jsonschema does not implement for this draft (rs would assert it)."""

    def __init__(self, parent: Any, value: Any, path: Any) -> None:
        pass

    def validate(self, instance: Any) -> None:
        return None


class _PythonPattern:
    """`pattern` by Python's `re.search`, as jsonschema does."""

    def __init__(self, parent: Any, value: str, path: Any) -> None:
        self.pattern, self.search = value, re.compile(value).search

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self.search(instance):
            raise ValueError(f"{instance!r} does not match {self.pattern!r}")


def _delegate(keyword: str, cls: Any) -> type:
    """A leaf keyword run by jsonschema's own implementation (`multipleOf`)."""
    implementation, helper = cls.VALIDATORS[keyword], cls({})

    class Delegate:
        def __init__(self, parent: Any, value: Any, path: Any) -> None:
            self.parent, self.value = parent, value

        def validate(self, instance: Any) -> None:
            for error in implementation(helper, self.value, instance, self.parent) or ():
                raise ValueError(error.message)

    return Delegate


def _keywords(cls: Any) -> dict[str, type]:
    import jsonschema

    keywords = {"pattern": _PythonPattern, "multipleOf": _delegate("multipleOf", cls)}
    if cls is jsonschema.Draft202012Validator:
        keywords["dependencies"] = _Ignore
    if cls is jsonschema.Draft7Validator:
        keywords["contentMediaType"] = keywords["contentEncoding"] = _Ignore
    return keywords


def _same_in_both(items: Any) -> bool:
    """A parsed regex whose meaning is the same in Python's re and in rs's engine."""
    for op, arg in items:
        if op in (sre_constants.LITERAL, sre_constants.NOT_LITERAL, sre_constants.ANY):
            continue
        if op is sre_constants.IN:
            if any(o is sre_constants.CATEGORY for o, _ in arg):  # \d \w \s differ
                return False
        elif op is sre_constants.AT:
            if arg not in _ANCHORS:
                return False
        elif op is sre_constants.BRANCH:
            if not all(_same_in_both(branch) for branch in arg[1]):
                return False
        elif op is sre_constants.SUBPATTERN:
            _, add, remove, sub = arg
            if add or remove or not _same_in_both(sub):
                return False
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            if not _same_in_both(arg[2]):
                return False
        else:
            return False  # lookarounds, backreferences, \b, \A, \Z
    return True


def _rs_regex(key: str) -> str | None:
    """The patternProperties key as rs must read it to mean what Python's re means, or
    None when that cannot be guaranteed. Python's `$` also matches before a final
    newline (rs's: only at the end), and Python's `.` excludes only `\\n`."""
    if re.search(r"\\[A-Za-z0-9]|\{,|\[\^?\]", key):
        return None
    try:
        tree = sre_parser.parse(key)
    except re.error:
        return None
    if tree.state.flags & ~re.UNICODE or not _same_in_both(tree):
        return None
    out, index, in_class, opened = [], 0, False, 0
    while index < len(key):
        char = key[index]
        if char == "\\":
            out.append(key[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class, opened = True, index
        elif char == "]" and in_class and index - opened > (2 if key[opened + 1] == "^" else 1):
            in_class = False  # a `]` first in a class is a literal
        if not in_class and char in "$.":
            out.append(r"(?=\n?$)" if char == "$" else r"[^\n]")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _rs_schema(schema: Any, problems: list[str], formats: set[str]) -> Any:
    """The schema as rs gets it (patternProperties keys rewritten), noting what cannot be."""
    if isinstance(schema, list):
        return [_rs_schema(item, problems, formats) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NOT_SCHEMAS:
            copy[key] = value
        elif key == "patternProperties" and isinstance(value, dict):
            keys = {}
            for regex, sub in value.items():
                rewritten = _rs_regex(regex)
                if rewritten is None:
                    problems.append(f"patternProperties key {regex[:60]!r}")
                keys[rewritten or regex] = _rs_schema(sub, problems, formats)
            copy[key] = keys
        else:
            if key == "format" and isinstance(value, str):
                formats.add(value)
            copy[key] = _rs_schema(value, problems, formats)
    return copy


def _conforms(checker: Any, name: str) -> Any:
    return lambda value: checker.conforms(value, name)


def _build(config: dict[str, Any]) -> tuple[Any, list[str]]:
    from shared.contract.lazy_formats import defer_rfc3987

    defer_rfc3987()
    import jsonschema
    import jsonschema_rs

    classes = {
        jsonschema.Draft202012Validator: jsonschema_rs.Draft202012Validator,
        jsonschema.Draft7Validator: jsonschema_rs.Draft7Validator,
    }
    try:
        cls = validator_class(config)
    except DraftError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    used: set[str] = set()
    schema = _rs_schema(config["schema"], problems, used)
    if problems:
        return None, problems
    assert_formats = bool(config.get("format_assertion", True))
    checker = cls.FORMAT_CHECKER
    formats = {
        name: _conforms(checker, name) if name in checker.checkers else (lambda value: True)
        for name in used
    }
    try:
        validator = classes[cls](
            schema,
            validate_formats=assert_formats,
            formats=formats if assert_formats else None,
            keywords=_keywords(cls),
            offline=True,
        )
    except Exception as exc:  # noqa: BLE001 - rs refuses the schema: jsonschema checks it
        return None, [f"jsonschema-rs refuses it: {str(exc).splitlines()[0][:120]}"]
    return validator, []


@lru_cache(maxsize=64)
def _cached(config_json: str) -> tuple[Any, tuple[str, ...]]:
    validator, problems = _build(json.loads(config_json))
    return validator, tuple(problems)


def fast_validator(config: dict[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """(a jsonschema-rs validator with jsonschema's answers, ()) or (None, why not);
    built once per schema in a process."""
    return _cached(json.dumps(config, sort_keys=True))


def engine_for(config: dict[str, Any]) -> str:
    """The engine a step with this config gets: FAST when it gives jsonschema's answers."""
    validator, _ = fast_validator(config)
    return FAST if validator is not None else CAREFUL
