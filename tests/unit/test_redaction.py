"""Under DO_NOT_STORE the parent rebuilds every finding (validators/redaction.py): a
secret placed in a JSON value, a JSON key, a duplicated key, an XML tag, an XML
attribute, an EnergyPlus object name or an engine's own words is in no message, code,
path, metric or error of the step's output, while the class of each finding, its line,
column and a path of indexes, positions and schema words remain. The engines are the
real ones, in their sandboxes; a hostile engine is a check that returns the secret in
every field it can."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from shared.domain.enums import Severity
from shared.envelopes import InputEnvelope, InputFile, OutputEnvelope, OutputFinding, ValidatorRef
from tests.factories import input_envelope
from validators import redaction
from validators.energyplus.err import parse_err
from validators.payload import Payload
from validators.runtime import CheckFailed, ValidationResult, produce_output

SECRET = "SECRET-0D6F2C9B41A8"
SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "integer"},
        "notes": {"type": "string", "maxLength": 3},
        "tags": {"type": "array", "items": {"enum": ["ok"]}},
    },
    "additionalProperties": False,
}
XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="person"><xs:complexType><xs:sequence>
    <xs:element name="name" type="xs:string"/>
  </xs:sequence><xs:attribute name="age" type="xs:integer"/></xs:complexType></xs:element>
</xs:schema>"""


def _output(
    validator: str, module: Any, data: bytes, config: dict[str, Any], redact: bool = True
) -> OutputEnvelope:
    item = InputFile(
        name="file",
        uri="inline:file",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type="application/octet-stream",
    )
    envelope = input_envelope(validator, config=config, files=[item], redact_values=redact)
    return produce_output(
        module.validate,
        envelope,
        lambda: [(item, Payload(data=data))],
        ValidatorRef(name=validator, version="1"),
        30.0,
    )


def _leaks(output: OutputEnvelope) -> bool:
    return SECRET.lower() in output.model_dump_json().lower()


JSON_CASES = {
    "value and key": (
        b'{"name": "%s", "notes": "%s", "tags": ["%s"], "%s": 1}' % ((SECRET.encode(),) * 4),
        {
            "schema.type",
            "schema.maxLength",
            "schema.enum",
            "schema.additionalProperties",
        },
    ),
    "duplicate key": (
        b'{"name": 1, "%s": 1, "%s": 2}' % ((SECRET.encode(),) * 2),
        {"duplicate_key"},
    ),
    "key on the path": (
        b'{"name": 1, "tags": {"%s": 1}}' % SECRET.encode(),
        {"schema.type"},
    ),
    "not json": (b'{"name": %s}' % SECRET.encode(), {"invalid_json"}),
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_json_schema_findings_quote_nothing(case: str) -> None:
    from validators.json_schema import validator as module

    data, codes = JSON_CASES[case]
    config = {"schema": SCHEMA}
    if case != "not json":  # the other cases quote the secret when not redacted
        assert _leaks(_output("json-schema", module, data, config, redact=False))
    output = _output("json-schema", module, data, config)
    assert not _leaks(output), output.model_dump_json()
    assert {f.code for f in output.findings} == codes
    assert all(f.message.startswith(("the ", "a ")) for f in output.findings)


def test_json_paths_keep_indexes_and_schema_words() -> None:
    from validators.json_schema import validator as module

    data = b'{"name": 1, "tags": ["ok", "%s"]}' % SECRET.encode()
    (found,) = _output("json-schema", module, data, {"schema": SCHEMA}).findings
    assert (found.code, found.path) == ("schema.enum", "/tags/1")
    assert found.message == "the value does not satisfy the schema's 'enum' (at /tags/1)"


XML_CASES = {
    "tag mismatch": b"<person><%s>x</name></person>" % SECRET.encode(),
    "unknown element": b"<person><%s>x</%s></person>" % ((SECRET.encode(),) * 2),
    "attribute value": b'<person age="%s"><name>x</name></person>' % SECRET.encode(),
    "entity": b'<!DOCTYPE p [<!ENTITY %s "x">]><person/>' % SECRET.encode(),
}


@pytest.mark.parametrize("case", sorted(XML_CASES))
def test_xml_findings_quote_nothing(case: str) -> None:
    from validators.xml_schema import validator as module

    config = {"schema_type": "xsd", "schema": XSD}
    if case != "entity":  # the other cases quote the secret when not redacted
        assert _leaks(_output("xml-schema", module, XML_CASES[case], config, redact=False))
    output = _output("xml-schema", module, XML_CASES[case], config)
    assert output.findings and not _leaks(output), output.model_dump_json()
    assert all(f.line for f in output.findings)


def test_xml_paths_are_positions_where_names_are_the_documents() -> None:
    from validators.xml_schema import validator as module

    data = b"<person>\n<name>x</name>\n<%s/>\n</person>" % SECRET.encode()
    config = {"schema_type": "xsd", "schema": XSD}
    (found,) = _output("xml-schema", module, data, config).findings
    assert found.code == "xsd.schemav_element_content"
    assert (found.path, found.line) == ("/*[1]/*[2]", 3)


def test_energyplus_messages_keep_their_class_and_place_only() -> None:
    err = (
        '   ** Severe  ** GetSurfaceData: BuildingSurface:Detailed="%s", invalid Construction\n'
        '   **   ~~~   ** Construction Name="%s" not found\n'
        '   ** Severe  ** <root>[Zone][%s][x_origin] - Value type "string" for input "%s"\n'
        "   ** Warning ** Line: 4 Index: 12 - object %s is unused\n"
    ) % ((SECRET,) * 5)
    found = redaction.findings(parse_err(err), "energyplus", {})
    assert SECRET not in str([f.model_dump() for f in found])
    by_code = sorted(((f.code, f.path, f.line) for f in found), key=str)
    assert by_code == [
        ("energyplus.severe", "/Zone/*/x_origin", None),
        ("energyplus.severe", None, None),
        ("energyplus.warning", None, 4),
    ]


def test_a_hostile_engine_gets_nothing_through() -> None:
    def hostile(envelope: InputEnvelope, files: Any) -> ValidationResult:
        finding = OutputFinding(
            severity=Severity.ERROR,
            code=f"schema.{SECRET}",
            message=SECRET,
            path=f"/{SECRET}/0/name[2]",
            line=3,
        )
        return ValidationResult([finding], metrics={"files": 1, "label": SECRET})

    data = b"{}"
    item = InputFile(name="f", uri="inline:f", sha256="0" * 64, size_bytes=2, content_type="x")
    envelope = input_envelope("json-schema", config={"schema": SCHEMA}, redact_values=True)
    ref = ValidatorRef(name="json-schema", version="1")
    output = produce_output(hostile, envelope, lambda: [(item, Payload(data=data))], ref, 30.0)
    assert not _leaks(output)
    (found,) = output.findings
    assert (found.code, found.path, found.line) == ("finding.withheld", "/*/0/name[2]", 3)
    assert output.metrics == {"files": 1, "label": None}


def test_a_crash_that_quotes_the_file_is_reported_by_its_class() -> None:
    def crashes(envelope: InputEnvelope, files: Any) -> ValidationResult:
        raise CheckFailed(f"KeyError: {SECRET}")

    item = InputFile(name="f", uri="inline:f", sha256="0" * 64, size_bytes=2, content_type="x")
    envelope = input_envelope("json-schema", config={}, redact_values=True)
    ref = ValidatorRef(name="json-schema", version="1")
    output = produce_output(crashes, envelope, lambda: [(item, Payload(data=b"{}"))], ref, 30.0)
    assert not _leaks(output)
    assert output.error == "the check failed"
    assert [f.code for f in output.findings] == ["runtime.error"]


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        (None, None),
        ("", ""),
        ("/tags/1", "/tags/1"),
        (f"/tags/{SECRET}", "/tags/*"),
        ("/a~1b", "/*"),
        ("/*[1]/*[2]", "/*[1]/*[2]"),
        (f"/person/{SECRET}[3]", "/person/*[3]"),
        (f"{SECRET}", None),
        (f"/x[{SECRET}]", "/*"),
    ],
)
def test_a_path_keeps_indexes_positions_and_config_words(path: str | None, kept: str) -> None:
    vocabulary = redaction.words({"schema": {"properties": {"tags": {}}}, "x": "<person/>"})
    assert redaction.safe_path(path, vocabulary) == kept
