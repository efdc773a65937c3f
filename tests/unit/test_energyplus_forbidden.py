"""Objects that would load code or reach outside the run are refused before the engine
starts: every class of the engine's schema that starts with `PythonPlugin:` or
`ExternalInterface`, and every file-name field that holds a path, in an IDF (with the
line) and in an epJSON (with the pointer); EPMacro lines; whatever the case of the class
name, however an object spans lines, BOM and CRLF included. Comments and field values
that only mention such a class are not findings; a harmless model gives none. A refused
model is never given to the engine: the same bytes, parsed by the engine, would have
made it report an unknown object, and check_model does not."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from shared.contract.envelopes import InputEnvelope, InputFile, OutputFinding, ValidatorRef
from validators.energyplus import forbidden
from validators.energyplus.engine import payload
from validators.energyplus.forbidden import forbidden_objects
from validators.energyplus.model_check import _parse_idf, check_model
from validators.energyplus.validator import validate
from validators.payload import Payload

ROOT = Path(__file__).resolve().parents[2]
BOX = (ROOT / "examples" / "box.idf").read_bytes()
BROKEN = (ROOT / "examples" / "box-broken.idf").read_bytes()
# The first line of anything appended to box.idf.
AFTER_BOX = BOX.count(b"\n") + 1
SCHEMA: dict[str, Any] = json.loads((payload() / "Energy+.schema.epJSON").read_text())["properties"]
CODE_CLASSES = sorted(
    c for c in SCHEMA if c.upper().startswith(("PYTHONPLUGIN:", "EXTERNALINTERFACE"))
)
FILE_CLASSES = sorted(c for c in SCHEMA if c.upper() in forbidden.FILE_FIELDS)


def _idf(data: bytes) -> list[OutputFinding]:
    return forbidden_objects(Payload(data=data), "idf")


def _epjson(model: dict[str, Any]) -> list[OutputFinding]:
    return forbidden_objects(Payload(data=json.dumps(model).encode()), "epjson")


def _has_name(klass: str) -> bool:
    return "name" in SCHEMA[klass]


def _file_object(klass: str, file_name: str) -> str:
    """An IDF object of `klass` whose file field is `file_name`, its name "It"."""
    index, _ = forbidden.FILE_FIELDS[klass.upper()]
    fields = ["It", *[""] * 12] if _has_name(klass) else [""] * 12
    fields[index] = file_name
    return f"{klass},{','.join(fields[: index + 1])};"


# The tables hold for the engine that is installed.


def test_the_tables_match_the_engines_schema() -> None:
    assert CODE_CLASSES and len(FILE_CLASSES) == len(forbidden.FILE_FIELDS)
    for klass in FILE_CLASSES:
        index, key = forbidden.FILE_FIELDS[klass.upper()]
        assert SCHEMA[klass]["legacy_idd"]["fields"][index] == key, klass
    for klass in [*CODE_CLASSES, *FILE_CLASSES]:
        assert _has_name(klass) == (klass.upper() not in forbidden.NAMELESS), klass


def test_every_field_that_names_a_file_is_covered() -> None:
    """A future engine's new file field fails here until it is judged (decision 0019)."""
    for klass, spec in SCHEMA.items():
        legacy = spec["legacy_idd"]
        keys = [*legacy["fields"], *legacy.get("extensibles", [])]
        if any(k.endswith("file_name") for k in keys):
            assert forbidden._code_reason(klass) or klass.upper() in forbidden.FILE_FIELDS, klass


# IDF


@pytest.mark.parametrize("klass", CODE_CLASSES)
def test_every_class_that_loads_code_is_refused_in_an_idf(klass: str) -> None:
    (found,) = _idf(BOX + f"{klass},It,x;\n".encode())
    assert (found.code, found.severity, found.line) == (
        "energyplus.forbidden_object",
        "ERROR",
        AFTER_BOX,
    )
    assert found.message.startswith(f'{klass} "It"' if _has_name(klass) else f"{klass} ")
    assert found.path is None


@pytest.mark.parametrize("klass", FILE_CLASSES)
@pytest.mark.parametrize(
    "file_name", ["/etc/passwd", "sub/x.csv", "..\\x.csv", "C:x.csv", "~x.csv", "a..b.csv"]
)
def test_a_file_field_that_holds_a_path_is_refused_in_an_idf(klass: str, file_name: str) -> None:
    (found,) = _idf(BOX + b"\n" + _file_object(klass, file_name).encode())
    assert (found.code, found.line) == ("energyplus.forbidden_object", AFTER_BOX + 1)
    assert f'names the file "{file_name}"' in found.message
    assert found.message.startswith(f'{klass} "It"' if _has_name(klass) else f"{klass} ")


@pytest.mark.parametrize("klass", FILE_CLASSES)
def test_a_bare_file_name_or_none_is_left_to_the_engine(klass: str) -> None:
    bare = _file_object(klass, "schedule 1.csv")
    empty = _file_object(klass, "")
    assert _idf(BOX + f"{bare}\n{empty}\n".encode()) == []


def test_an_object_spanning_lines_names_the_line_of_its_class_and_of_its_file() -> None:
    model = (
        b"Schedule:Constant,Always,,1;\n"
        b"  PythonPlugin:Instance,  ! a comment; with a semicolon\n"
        b"    Spy,                  !- Name\n"
        b"\n"
        b"    No, spy, Spy;\n"
        b"Schedule:File,\n"
        b"  Occupancy,  !- Name\n"
        b"  ,           !- Schedule Type Limits Name\n"
        b"  /tmp/occupancy.csv,  !- File Name\n"
        b"  1, 0;\n"
    )
    found = _idf(model)
    assert [(f.line, f.message.split(" ", 2)[:2]) for f in found] == [
        (2, ["PythonPlugin:Instance", '"Spy"']),
        (9, ["Schedule:File", '"Occupancy"']),
    ]


@pytest.mark.parametrize(
    "written",
    [
        "PYTHONPLUGIN:INSTANCE,It",
        "pythonplugin:instance,It",
        "  \tPythonplugin:Instance  ,It",
        "externalinterface:functionalmockupunitimport,/x/y.fmu",
        "SCHEDULE:file,It,,/x/y.csv,1,0",
        "table:LOOKUP,It,,,,,,,/x/y.csv",
    ],
)
def test_class_names_are_caught_in_any_case(written: str) -> None:
    (found,) = _idf(BOX + f"{written};\n".encode())
    assert found.line == AFTER_BOX and found.message.startswith(written.split(",")[0].strip())


def test_a_bom_crlf_and_an_unterminated_last_object_are_read_as_the_engine_reads_them() -> None:
    model = (
        b"\xef\xbb\xbfPythonPlugin:Variables,V;\r\nVersion,25.2;\r\nExternalInterface,PtolemyServer"
    )
    found = _idf(model)
    assert [(f.line, f.message.split(" ")[0]) for f in found] == [
        (1, "PythonPlugin:Variables"),
        (3, "ExternalInterface"),
    ]


def test_mentions_in_comments_and_values_are_not_findings() -> None:
    model = BOX + (
        b"! PythonPlugin:Instance,Spy,No,spy,Spy;\n"
        b"!- ExternalInterface,PtolemyServer;\n"
        b"Schedule:Constant,PythonPlugin:Instance,Any,1;  ! ##include /etc/passwd\n"
        b"Schedule:Constant,Schedule:File,Any,1; ! Schedule:File,s,,/etc/passwd,1,0;\n"
        b"EnergyManagementSystem:Program,Loop,SET x = 1;\n"
    )
    assert _idf(model) == []


def test_harmless_models_have_nothing_forbidden() -> None:
    assert _idf(BOX) == [] and _idf(BROKEN) == [] and _idf(b"") == []


@pytest.mark.parametrize("directive", ["include", "includesilent", "fileprefix", "nosilent", "def"])
def test_epmacro_lines_are_refused(directive: str) -> None:
    (found,) = _idf(f"##{directive} /etc/passwd\n".encode() + BOX)
    assert (found.code, found.line) == ("energyplus.forbidden_macro", 1)
    assert f"##{directive}" in found.message


def test_epmacro_lines_in_comments_are_not_findings_and_findings_keep_file_order() -> None:
    model = (
        b"Version,25.2; ! ##include a\n"
        b"PythonPlugin:Variables,V;\n"
        b"  ##include b ##includesilent c ! ##include d\n"
        b"! ##nosilent\n"
        b"Zone,Z; ##fileprefix /etc\n"
    )
    found = _idf(model)
    assert [(f.code, f.line) for f in found] == [
        ("energyplus.forbidden_object", 2),
        ("energyplus.forbidden_macro", 3),
        ("energyplus.forbidden_macro", 3),
        ("energyplus.forbidden_macro", 5),
    ]
    assert [f.message.split()[3] for f in found[1:]] == [
        "##include",
        "##includesilent",
        "##fileprefix",
    ]


def test_objects_are_delimited_as_the_engine_delimits_them() -> None:
    model = (
        b"! a comment\n" * 1000
        + b"\n\t\n"
        + b"Zone,Z, ! ; PythonPlugin:Instance,Hidden,No,m,C;\n  0;"  # a `;` in a comment
        + b"Zone,Y; PythonPlugin:Variables,V;\n"  # two objects on one line
        + b"Zone,X,\nPythonPlugin:Variables;\n"  # a value, not a class
    )
    assert [(f.line, f.message.split(" ")[0]) for f in _idf(model)] == [
        (1004, "PythonPlugin:Variables")
    ]


def test_a_file_on_disk_is_mapped_not_read(tmp_path: Path) -> None:
    filler = b"Schedule:Constant,Always On,Fraction,1;  ! Table:Lookup,T,L,,,,,,,/x;\n" * 150_000
    path = tmp_path / "in.idf"
    path.write_bytes(BOX + filler + b"PythonPlugin:Instance,Spy,No,spy,Spy;\n##include x\n")
    started = time.monotonic()
    tracemalloc.start()
    try:
        found = forbidden_objects(Payload(path=path), "idf")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [f.line for f in found] == [AFTER_BOX + 150_000, AFTER_BOX + 150_001]
    assert peak < path.stat().st_size / 3
    assert time.monotonic() - started < 10
    empty = tmp_path / "empty.idf"
    empty.write_bytes(b"")
    assert forbidden_objects(Payload(path=empty), "idf") == []


def test_findings_are_capped() -> None:
    many = b"".join(b"PythonPlugin:Variables,V%d;\n" % i for i in range(600))
    found = _idf(many)
    assert len(found) == forbidden.MAX_FINDINGS + 1
    assert found[-1].message == "100 more forbidden objects are not listed"


# epJSON


@pytest.mark.parametrize("klass", CODE_CLASSES)
def test_every_class_that_loads_code_is_refused_in_an_epjson(klass: str) -> None:
    (found,) = _epjson({"Version": {"Version 1": {}}, klass: {"my/plugin": {}}})
    assert (found.code, found.path, found.line) == (
        "energyplus.forbidden_object",
        f"/{klass}/my~1plugin",
        None,
    )
    assert found.message.startswith(f'{klass} "my/plugin"')


@pytest.mark.parametrize("klass", FILE_CLASSES)
def test_a_file_field_that_holds_a_path_is_refused_in_an_epjson(klass: str) -> None:
    _, key = forbidden.FILE_FIELDS[klass.upper()]
    model = {klass: {"It": {key: "../../etc/passwd"}, "Fine": {key: "fine.csv"}}}
    (found,) = _epjson(model)
    assert found.path == f"/{klass}/It/{key}"
    assert 'names the file "../../etc/passwd"' in found.message


def test_an_epjson_in_another_case_with_a_repeated_key_is_still_caught() -> None:
    data = b'{"pythonplugin:instance": {"A": {}}, "pythonplugin:instance": {"B": {}}}'
    found = forbidden_objects(Payload(data=data), "epjson")
    assert [f.path for f in found] == ["/pythonplugin:instance/A", "/pythonplugin:instance/B"]
    assert [f.path for f in _epjson({"PythonPlugin:Instance": ["not", "an object"]})] == [
        "/PythonPlugin:Instance"
    ]


def test_a_harmless_epjson_has_nothing_forbidden() -> None:
    model = {
        "Version": {"Version 1": {"version_identifier": "25.2"}},
        "Schedule:Constant": {"PythonPlugin:Instance": {"hourly_value": 1}},
        "Schedule:File": {"Occupancy": {"file_name": "occupancy.csv", "column_number": 1}},
        "Table:Lookup": {"Curve": {"output_value": [{"output_value": 1.0}]}},
        "EnergyManagementSystem:Program": {"Loop": {"lines": [{"program_line": "SET x = 1"}]}},
        "Output:SQLite": {"Output:SQLite 1": {"option_type": "SimpleAndTabular"}},
    }
    assert _epjson(model) == []
    assert forbidden_objects(Payload(data=b"not json"), "epjson") == []
    assert forbidden_objects(Payload(data=b"[1, 2]"), "epjson") == []


# Never given to the engine


def test_a_refused_model_is_never_given_to_the_engine() -> None:
    model = Payload(data=BOX + b"PythonPlugin:Instance,Spy,No,spy,Spy;\nNoSuchObject,1;\n")
    # The engine's own parse of these bytes reports the unknown object...
    parsed, _ = _parse_idf(model, 60)
    assert any('"NoSuchObject" is not a valid Object Type' in f.message for f in parsed)
    # ...and check_model, which refuses the plugin first, never got that far.
    (refused,) = check_model(model, "idf")
    assert refused.code == "energyplus.forbidden_object" and refused.line == AFTER_BOX
    epjson = {
        "Version": {"Version 1": {"version_identifier": "9.6"}},
        "PythonPlugin:Variables": {"V": {}},
    }
    (refused,) = check_model(Payload(data=json.dumps(epjson).encode()), "epjson")
    assert refused.path == "/PythonPlugin:Variables/V"  # not the version check either


def test_a_refused_model_is_not_simulated(tmp_path: Path) -> None:
    envelope = InputEnvelope(
        run_id="R" * 20,
        org_id="o",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="energyplus", version="1"),
        config={"weather": "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw"},
        files=[],
        callback_url="http://127.0.0.1:9",
        callback_id="c" * 32,
        output_uri=(tmp_path / "bundle" / "output.json").as_uri(),
        timeout_seconds=120,
    )
    data = BOX + b"Schedule:File,Occupancy,,/etc/passwd,1,0;\n"
    item = InputFile(
        name="box.idf",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=len(data),
        content_type="text/plain",
    )
    result = validate(envelope, [(item, Payload(data=data))])
    assert [f.code for f in result.findings] == ["energyplus.forbidden_object"]
    assert result.artifacts == [] and result.metrics == {}
    assert not (tmp_path / "bundle").exists()
