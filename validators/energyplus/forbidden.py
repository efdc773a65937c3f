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

An IDF is read over a mapped view, never whole: first a search for any mention of those
classes or of `##` (a model with none is done), then object by object the way the
engine's parser reads it (`!` to the end of the line is a comment, fields end at `,`,
objects at `;`, class names in any case), reading field by field only an object whose
class matters, and keeping a field only as far as it takes to judge it.
"""

from __future__ import annotations

import heapq
import json
import mmap
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.contract.envelopes import OutputFinding
from shared.contract.severity import Severity
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
_CHUNK = 1024 * 1024
_NEEDLES = tuple(name.lower().encode() for name in (*CODE_PREFIXES, *FILE_FIELDS))
_BLANKS = b"[" + re.escape(_SPACE) + b"]*"
# Before a class name: blanks and whole comments.
_HEAD = re.compile(_BLANKS + rb"(?:![^\n]*" + _BLANKS + rb")*")
_CLASS = re.compile(rb"[^,;!]*")
# The rest of an object through its `;`: a `;` in a comment does not end it.
_REST = re.compile(rb"[^;!]*(?:![^\n]*[^;!]*)*;?")
_PIECE = re.compile(rb"![^\n]*|[,;\n]")
_TEXT = re.compile(b"[^" + re.escape(_SPACE) + b"]")
_MACRO = re.compile(rb"##[A-Za-z]\w*")
_BANG, _NEWLINE, _SEMICOLON = b"!\n;"


def forbidden_objects(payload: Payload, kind: str) -> list[OutputFinding]:
    """One ERROR finding per object of `payload` (an 'idf' or an 'epjson') that would
    load code or reach outside the run; none for a model that has none."""
    if kind == "epjson":
        return _capped(_epjson_findings(payload.read()))
    with payload.view() as view:
        objects, macros = _mentions(view)
        scans = [_object_findings(view)] if objects else []
        scans += [_macro_findings(view)] if macros else []
        return _capped(heapq.merge(*scans, key=lambda found: found.line or 0))


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


def _mentions(view: bytes | mmap.mmap) -> tuple[bool, bool]:
    """Whether the file mentions a class that matters, and `##`, anywhere at all (in a
    comment or not): a model that does not is not scanned further."""
    objects = macros = False
    overlap = max(map(len, _NEEDLES))
    for start in range(0, len(view), _CHUNK):
        chunk = view[start : start + _CHUNK + overlap].lower()
        objects = objects or any(needle in chunk for needle in _NEEDLES)
        macros = macros or b"##" in chunk
        if objects and macros:
            break
    return objects, macros


class _Lines:
    """The line of each position asked for, in increasing order: each newline is counted
    once, a chunk at a time (an mmap cannot count, and a slice of it is a copy)."""

    def __init__(self, view: bytes | mmap.mmap) -> None:
        self._view, self._position, self._line = view, 0, 1

    def at(self, position: int) -> int:
        while self._position < position:
            end = min(position, self._position + _CHUNK)
            self._line += self._view[self._position : end].count(b"\n")
            self._position = end
        return self._line


def _end(pattern: re.Pattern[bytes], view: bytes | mmap.mmap, position: int) -> int:
    match = pattern.match(view, position)
    return match.end() if match else position


def _object_findings(view: bytes | mmap.mmap) -> Iterator[OutputFinding]:
    """Object by object, as the engine reads them; only an object whose class matters is
    read field by field."""
    lines = _Lines(view)
    position = len(_BOM) if view[: len(_BOM)] == _BOM else 0
    while position < len(view):
        start = _end(_HEAD, view, position)
        name_end = _end(_CLASS, view, start)
        # The engine keeps an object the file ends in before its `;`.
        position = _end(_REST, view, name_end)
        if name_end - start > _FIELD_CAP:
            continue
        key = bytes(view[start:name_end]).strip(_SPACE).decode("utf-8", "replace").upper()
        if key and (_code_reason(key) or key in FILE_FIELDS):
            yield from _judge_idf(_fields(view, start, position, lines.at(start)))


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

    line: int
    fields: list[_Field] = field(default_factory=list)
    _text: bytearray = field(default_factory=bytearray)
    _field_line: int = 0
    _overlong: bool = False

    def add(self, view: bytes | mmap.mmap, start: int, end: int) -> None:
        if start >= end:
            return
        if not self._text:
            # Leading blanks do not count against the cap: the engine skips them all.
            text = _TEXT.search(view, start, end)
            if text is None:
                return
            start, self._field_line = text.start(), self.line
        room = _FIELD_CAP - len(self._text)
        self._text += view[start : min(end, start + room)]
        self._overlong = self._overlong or end - start > room

    def close_field(self) -> None:
        text = bytes(self._text).strip(_SPACE)
        self.fields.append(_Field(text, self._field_line, self._overlong))
        self._text.clear()
        self._overlong = False


def _fields(view: bytes | mmap.mmap, start: int, end: int, line: int) -> list[_Field]:
    """The first fields of the object at `start`, which ends at `end`."""
    current = _Object(line)
    position = start
    for match in _PIECE.finditer(view, start, end):
        current.add(view, position, match.start())
        position = match.end()
        mark = view[match.start()]
        if mark == _NEWLINE:
            current.line += 1
        elif mark != _BANG:
            current.close_field()
            if mark == _SEMICOLON or len(current.fields) >= _KEEP:
                return current.fields
    current.add(view, position, end)
    current.close_field()
    return current.fields


def _macro_findings(view: bytes | mmap.mmap) -> Iterator[OutputFinding]:
    """`##` lines outside comments: a `!` earlier on its line makes one a comment, since
    an IDF has no quoting. Each byte is looked at once or twice, whatever the lines."""
    lines = _Lines(view)
    checked, commented = 0, False
    for match in _MACRO.finditer(view):
        newline = view.rfind(b"\n", checked, match.start())
        if newline != -1:
            checked, commented = newline + 1, False
        commented = commented or view.find(b"!", checked, match.start()) != -1
        checked = match.start()
        if not commented:
            directive = view[match.start() : min(match.end(), match.start() + 40)]
            yield _macro(directive.decode("ascii"), lines.at(match.start()))


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
