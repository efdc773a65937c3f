"""The xml-schema validator with lxml: XSD, RelaxNG, DTD and ISO Schematron, findings
with line, column and XPath, and the attack files (billion laughs, XXE, external DTD,
schema imports) refused without expansion or any request."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.catalog.validators import ConfigError, get_validator
from validators.payload import Payload
from validators.xml_schema.validator import check

ROOT = Path(__file__).resolve().parents[2]
XSD = (ROOT / "examples" / "order.xsd").read_text()
GOOD = (ROOT / "examples" / "valid-order.xml").read_bytes()
BAD = (ROOT / "examples" / "invalid-order.xml").read_bytes()

RELAXNG = """<element name="order" xmlns="http://relaxng.org/ns/structure/1.0"
  datatypeLibrary="http://www.w3.org/2001/XMLSchema-datatypes">
  <attribute name="id"/>
  <oneOrMore><element name="item"><attribute name="sku"/>
    <attribute name="quantity"><data type="positiveInteger"/></attribute></element></oneOrMore>
</element>"""
DTD = """<!ELEMENT order (item+)>
<!ATTLIST order id CDATA #REQUIRED>
<!ELEMENT item EMPTY>
<!ATTLIST item sku CDATA #REQUIRED quantity CDATA #REQUIRED>"""
SCHEMATRON = """<schema xmlns="http://purl.oclc.org/dsdl/schematron">
  <pattern><rule context="item">
    <assert id="qty" test="number(@quantity) &gt; 0">quantity must be a positive number</assert>
  </rule></pattern>
</schema>"""


@pytest.mark.parametrize(
    "schema_type, schema",
    [("xsd", XSD), ("relaxng", RELAXNG), ("dtd", DTD), ("schematron", SCHEMATRON)],
)
def test_a_valid_file_passes_each_schema_type(schema_type: str, schema: str) -> None:
    assert check({"schema_type": schema_type, "schema": schema}, GOOD) == []


def test_xsd_violations_have_line_column_and_path() -> None:
    findings = check({"schema_type": "xsd", "schema": XSD}, BAD)
    assert {f.severity for f in findings} == {"ERROR"}
    by_line = {f.line: f for f in findings}
    assert set(by_line) == {2, 3}
    assert by_line[2].path == "/order" and "'id' is required" in by_line[2].message
    assert by_line[3].path == "/order/item" and "'none' is not a valid value" in by_line[3].message
    assert all(f.code.startswith("xsd.schemav_") for f in findings)


def test_relaxng_and_dtd_violations() -> None:
    rng = check({"schema_type": "relaxng", "schema": RELAXNG}, BAD)
    assert rng and rng[0].line == 2 and {f.code.split(".")[0] for f in rng} == {"relaxng"}
    dtd = check({"schema_type": "dtd", "schema": DTD}, BAD)
    assert dtd and dtd[0].line == 2 and "id" in dtd[0].message


def test_schematron_failed_asserts_name_the_element() -> None:
    (finding,) = check({"schema_type": "schematron", "schema": SCHEMATRON}, BAD)
    assert (
        finding.code == "schematron.assert"
        and finding.message == "quantity must be a positive number (rule 'qty')"
    )
    assert finding.path == "/order/item" and finding.line == 3
    assert finding.severity == "ERROR"


def test_redacted_findings_do_not_quote_the_file() -> None:
    findings = check({"schema_type": "xsd", "schema": XSD}, BAD, redact=True)
    assert findings and all("none" not in f.message for f in findings)
    (sch,) = check({"schema_type": "schematron", "schema": SCHEMATRON}, BAD, redact=True)
    assert sch.message == "schematron rule 'qty' failed"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "y">')

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<order id="&lol9;"><item sku="a" quantity="1"/></order>"""


def test_a_billion_laughs_file_is_one_error_finding() -> None:
    (finding,) = check({"schema_type": "xsd", "schema": XSD}, LAUGHS)
    assert (finding.severity, finding.code, finding.line) == ("ERROR", "xml.refused", 3)
    assert "declares entities" in finding.message


def test_xxe_and_external_dtds_fetch_nothing(listener: Any, tmp_path: Path) -> None:
    url, hits = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = f'<!DOCTYPE o [<!ENTITY x SYSTEM "{secret.as_uri()}">]><order id="&x;"/>'.encode()
    (finding,) = check({"schema_type": "xsd", "schema": XSD}, xxe)
    assert finding.code == "xml.refused" and "TOP-SECRET" not in finding.message
    external = (
        f'<!DOCTYPE order SYSTEM "{url}/evil.dtd">'
        '<order id="1"><item sku="a" quantity="1"/></order>'
    )
    assert check({"schema_type": "xsd", "schema": XSD}, external.encode()) == []
    assert hits == []


def test_schemas_that_reach_out_or_do_not_compile_are_refused_at_save(listener: Any) -> None:
    url, hits = listener
    spec = get_validator("xml-schema")
    importing = XSD.replace(
        '<xs:element name="order">',
        f'<xs:import namespace="urn:x" schemaLocation="{url}/x.xsd"/><xs:element name="order">',
    )
    for config, words in [
        ({"schema_type": "xsd", "schema": importing}, "does not compile"),
        ({"schema_type": "xsd", "schema": "<nope"}, "not well-formed"),
        ({"schema_type": "relaxng", "schema": "<element xmlns='urn:wrong'/>"}, "does not compile"),
        ({"schema_type": "yaml", "schema": "x"}, "schema_type must be one of"),
        ({"schema_type": "dtd", "schema": '<!ENTITY x "y">'}, "declares entities"),
        ({"schema_type": "xsd"}, "schema is required"),
        ({"schema_type": "xsd", "schema": XSD, "extra": 1}, "unknown config keys"),
        ({"schema_type": "xsd", "schema": XSD, "phase": "#ALL"}, "schematron schema's phase"),
        ({"schema_type": "schematron", "schema": SCHEMATRON, "phase": "p"}, "not a phase"),
    ]:
        with pytest.raises(ConfigError, match=words):
            spec.check_config(config)
    assert hits == []
    assert spec.check_config({"schema_type": "xsd", "schema": XSD}) == []


def test_the_job_reads_a_schema_resource_from_the_bundle(tmp_path: Path) -> None:
    import hashlib

    from shared.contract.envelopes import InputEnvelope, InputFile, ValidatorRef
    from validators.xml_schema.validator import validate

    copy = tmp_path / "runs" / "resources" / "order.xsd"
    copy.parent.mkdir(parents=True)
    copy.write_text(XSD)

    def envelope(sha: str) -> InputEnvelope:
        return InputEnvelope(
            run_id="R" * 20,
            org_id="o",
            step_order=0,
            step_key="s",
            attempt=1,
            validator=ValidatorRef(name="xml-schema", version="1"),
            config={"schema_type": "xsd", "schema_resource": "order.xsd"},
            files=[],
            callback_url="http://127.0.0.1:9",
            callback_id="c" * 32,
            output_uri=(tmp_path / "out.json").as_uri(),
            timeout_seconds=60,
            resources=[
                InputFile(
                    name="order.xsd",
                    uri=copy.as_uri(),
                    sha256=sha,
                    size_bytes=1,
                    content_type="application/xml",
                )
            ],
        )

    item = InputFile(
        name="o.xml", uri="file:///x", sha256="0" * 64, size_bytes=1, content_type="application/xml"
    )
    good = validate(envelope(hashlib.sha256(XSD.encode()).hexdigest()), [(item, Payload(data=BAD))])
    assert {f.line for f in good.findings} == {2, 3}
    with pytest.raises(ValueError, match="checksum does not match"):
        validate(envelope("0" * 64), [(item, Payload(data=BAD))])
