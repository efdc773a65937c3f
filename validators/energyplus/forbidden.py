"""Objects a model may not hold: the engine would load code or reach outside the run.

EnergyPlus can run Python (`PythonPlugin:*`), load an FMU's shared library or talk to
another program over a socket (`ExternalInterface*`), and open files by the path a field
gives (`Schedule:File`, `Table:Lookup`, a Window5 data file, an ASHRAE 205
representation). Assay runs a model only as a simulation: such a model is refused before
the engine sees it, since even the engine's parse of an IDF is a run of the engine. Each
object is one ERROR finding that names its class (and its name where the class has one)
with its line in an IDF or its JSON Pointer in an epJSON; a file name is refused when it
is anything but a bare name (no folder, no `..`), pointing at that field. EPMacro lines
(`##include`, `##fileprefix`, ...) are refused too. Decision record 0019 lists every
class of the engine's IDD with a file or code field and what was decided for it.

An IDF is scanned the way the engine's parser reads it (`!` to the end of the line is a
comment, fields end at `,`, objects at `;`, class names in any case) over a mapped view,
and only when the file mentions one of those classes at all; field text is kept only as
far as it takes to judge it, so a file of gigabytes is never whole in memory.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.domain.enums import Severity
from shared.envelopes import OutputFinding
from validators.energyplus.err import finding
from validators.payload import Payload

MAX_FINDINGS = 500
OBJECT_CODE = "energyplus.forbidden_object"
MACRO_CODE = "energyplus.forbidden_macro"

# Class-name prefix (upper case) -> what an object of such a class makes the engine do.
CODE_PREFIXES = {
    "PYTHONPLUGIN:": "runs Python code",
    "EXTERNALINTERFACE": "loads an FMU or exchanges data with another program",
}
# Class (upper case) -> the field that names a file the engine opens: its place after the
# class name in an IDF, and its key in an epJSON.
FILE_FIELDS: dict[str, tuple[int, str]] = {
    "SCHEDULE:FILE": (2, "file_name"),
    "SCHEDULE:FILE:SHADING": (0, "file_name"),
    "CONSTRUCTION:WINDOWDATAFILE": (1, "file_name"),
    "TABLE:INDEPENDENTVARIABLE": (7, "external_file_name"),
    "TABLE:LOOKUP": (7, "external_file_name"),
    "COIL:DX:ASHRAE205:PERFORMANCE": (1, "representation_file_name"),
    "CHILLER:ELECTRIC:ASHRAE205": (1, "representation_file_name"),
}
# Of those, the classes whose first IDF field is not a name (the engine numbers them).
NAMELESS = frozenset(
    {
        "EXTERNALINTERFACE",
        "EXTERNALINTERFACE:FUNCTIONALMOCKUPUNITIMPORT",
        "EXTERNALINTERFACE:FUNCTIONALMOCKUPUNITIMPORT:FROM:VARIABLE",
        "EXTERNALINTERFACE:FUNCTIONALMOCKUPUNITEXPORT:FROM:VARIABLE",
        "EXTERNALINTERFACE:FUNCTIONALMOCKUPUNITEXPORT:TO:SCHEDULE",
        "SCHEDULE:FILE:SHADING",
    }
)

# An allow-list rather than a deny-list of separators: whatever else a name holds (a
# drive, `~`, `$VAR`, a byte that is not ASCII) is one more way to mean another folder.
_BARE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_. -]*")
# Blanks around a class name or a value: more than the engine strips (space, tab, CR and
# LF before; space, tab and NUL after), so no blank it ignores can hide a class.
_SPACE = b" \t\r\n\x00\x0b\x0c"
_BOM = b"\xef\xbb\xbf"
# Enough for any class name or file name worth judging; a longer file name is refused.
_FIELD_CAP = 4096
_KEEP = 2 + max(index for index, _ in FILE_FIELDS.values())
_PIECE = re.compile(rb"![^\n]*|##[A-Za-z]\w*|[,;\n]")
_TEXT = re.compile(b"[^" + re.escape(_SPACE) + b"]")
_CANDIDATE = re.compile(
    b"|".join(re.escape(name.encode()) for name in (*CODE_PREFIXES, *FILE_FIELDS))
    + rb"|##[A-Za-z]",
    re.IGNORECASE,
)
_BANG, _HASH, _NEWLINE, _SEMICOLON = b"!#\n;"


def forbidden_objects(payload: Payload, kind: str) -> list[OutputFinding]:
    """One ERROR finding per object of `payload` (an 'idf' or an 'epjson') that would
    load code or reach outside the run; none for a model that has none."""
    if kind == "epjson":
        return _capped(_epjson_findings(payload.read()))
    with payload.view() as view:
        if not _CANDIDATE.search(view):
            return []
        return _capped(_idf_findings(view))


def _capped(findings: Iterable[OutputFinding]) -> list[OutputFinding]:
    kept: list[OutputFinding] = []
    more = 0
    for item in findings:
        if len(kept) < MAX_FINDINGS:
            kept.append(item)
        else:
            more += 1
    if more:
        kept.append(
            finding(Severity.ERROR, OBJECT_CODE, f"{more} more forbidden objects are not listed")
        )
    return kept


def outside(file_name: str) -> bool:
    """Whether a file name may reach outside the run's folder: anything but a bare name."""
    name = file_name.strip()
    return bool(name) and (".." in name or not _BARE.fullmatch(name))


def _label(klass: str, name: str | None) -> str:
    return f'{klass} "{name}"' if name else klass


def _code_reason(klass: str) -> str | None:
    key = klass.strip().upper()
    return next((why for prefix, why in CODE_PREFIXES.items() if key.startswith(prefix)), None)


def _refused(
    label: str, why: str, path: str | None = None, line: int | None = None
) -> OutputFinding:
    return finding(
        Severity.ERROR,
        OBJECT_CODE,
        f"{label} {why}; Assay only simulates a model, so this one was not run",
        path,
        line,
    )


def _file_refused(
    label: str, file_name: str, path: str | None = None, line: int | None = None
) -> OutputFinding:
    why = f'names the file "{file_name[:200]}", a path that may lead outside the run'
    return _refused(label, why + " (only a bare file name is allowed)", path, line)


# IDF


@dataclass
class _Field:
    text: bytes
    line: int
    overlong: bool

    def decoded(self) -> str:
        return self.text.decode("utf-8", errors="replace")


@dataclass
class _Object:
    """The object being read: its first fields (the class name first), each kept only as
    far as it takes to judge it."""

    line: int = 1
    fields: list[_Field] = field(default_factory=list)
    _text: bytearray = field(default_factory=bytearray)
    _field_line: int = 0
    _overlong: bool = False

    def add(self, view: bytes | mmap.mmap, start: int, end: int) -> None:
        if start >= end or len(self.fields) >= _KEEP:
            return
        if not self._text:
            # Leading blanks do not count against the cap: however many there are, the
            # engine skips them to the class name.
            text = _TEXT.search(view, start, end)
            if text is None:
                return
            start, self._field_line = text.start(), self.line
        room = _FIELD_CAP - len(self._text)
        self._text += view[start : min(end, start + room)]
        self._overlong = self._overlong or end - start > room

    def close_field(self) -> None:
        if len(self.fields) < _KEEP:
            text = bytes(self._text).strip(_SPACE)
            self.fields.append(_Field(text, self._field_line, self._overlong))
        self._text.clear()
        self._overlong = False

    def take(self) -> list[_Field]:
        taken, self.fields = self.fields, []
        return taken


def _idf_findings(view: bytes | mmap.mmap) -> Iterator[OutputFinding]:
    current = _Object()
    position = len(_BOM) if view[: len(_BOM)] == _BOM else 0
    for match in _PIECE.finditer(view, position):
        current.add(view, position, match.start())
        position = match.end()
        mark = view[match.start()]
        if mark == _NEWLINE:
            current.line += 1
        elif mark == _HASH:
            yield _macro(match.group().decode("ascii"), current.line)
            current.add(view, match.start(), position)
        elif mark != _BANG:
            current.close_field()
            if mark == _SEMICOLON:
                yield from _judge_idf(current.take())
    current.add(view, position, len(view))
    current.close_field()
    # The engine keeps an object the file ends in before its `;`.
    yield from _judge_idf(current.take())


def _macro(directive: str, line: int) -> OutputFinding:
    return finding(
        Severity.ERROR,
        MACRO_CODE,
        f"the EPMacro line {directive} is not allowed: Assay does not run EPMacro, and "
        "an include would read a file outside the run",
        line=line,
    )


def _judge_idf(fields: list[_Field]) -> Iterator[OutputFinding]:
    if not fields or fields[0].overlong or not fields[0].text:
        return
    klass = fields[0].decoded()
    key = klass.upper()
    name = fields[1].decoded() if len(fields) > 1 and key not in NAMELESS else None
    why = _code_reason(key)
    if why:
        yield _refused(_label(klass, name), why, line=fields[0].line)
    elif key in FILE_FIELDS and FILE_FIELDS[key][0] + 1 < len(fields):
        file_field = fields[FILE_FIELDS[key][0] + 1]
        if file_field.overlong or outside(file_field.decoded()):
            label = _label(klass, name)
            yield _file_refused(label, file_field.decoded(), line=file_field.line)


# epJSON


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as all its pairs: a key given twice must not hide its first value."""


def _epjson_findings(data: bytes) -> Iterator[OutputFinding]:
    try:
        model = json.loads(data, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return  # not JSON: the schema check says so, and nothing is run
    if not isinstance(model, _Pairs):
        return
    for klass, objects in model:
        why = _code_reason(klass)
        if not isinstance(objects, _Pairs):
            if why:
                yield _refused(klass, why, _pointer(klass))
            continue
        for name, fields in objects:
            yield from _judge_epjson(klass, name, fields)


def _judge_epjson(klass: str, name: str, fields: Any) -> Iterator[OutputFinding]:
    key = klass.strip().upper()
    why = _code_reason(key)
    if why:
        yield _refused(_label(klass, name), why, _pointer(klass, name))
        return
    if key not in FILE_FIELDS or not isinstance(fields, _Pairs):
        return
    wanted = FILE_FIELDS[key][1]
    for field_key, value in fields:
        if field_key.lower() == wanted and isinstance(value, str) and outside(value):
            yield _file_refused(_label(klass, name), value, _pointer(klass, name, field_key))


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)
