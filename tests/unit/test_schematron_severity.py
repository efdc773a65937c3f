"""Schematron on lxml: a finding's severity from its rule's @role, then @flag, then the
defaults (a failed assert ERROR, a fired report WARNING); config `phase` selecting the
patterns that run; each finding naming its rule's id, XPath and line; hostile schemas
refused at save and at run time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.catalog.validators import ConfigError, get_validator
from shared.contract.envelopes import InputEnvelope, InputFile, OutputFinding, ValidatorRef
from validators.payload import Payload
from validators.xml_schema.validator import check, validate

ORDER = b"""<order id="1">
  <item sku="a" quantity="0"/>
</order>"""
NS = 'xmlns="http://purl.oclc.org/dsdl/schematron"'


def _schema(rule_attrs: str, check_xml: str, head: str = "") -> str:
    return f"""<schema {NS} {head}>
  <pattern><rule context="item" {rule_attrs}>{check_xml}</rule></pattern>
</schema>"""


def _one(schema: str, **config: str) -> OutputFinding:
    (finding,) = check({"schema_type": "schematron", "schema": schema, **config}, ORDER)
    return finding


FAILS = 'test="number(@quantity) &gt; 0"'
FIRES = "test=\"@sku = 'a'\""


@pytest.mark.parametrize(
    "word, severity",
    [
        ("ERROR", "ERROR"),
        ("Fatal", "ERROR"),
        ("warning", "WARNING"),
        ("WARN", "WARNING"),
        ("Info", "INFO"),
        ("INFORMATION", "INFO"),
        (" error ", "ERROR"),
    ],
)
def test_role_sets_the_severity_in_any_case(word: str, severity: str) -> None:
    failed = _one(_schema("", f'<assert role="{word}" {FAILS}>q</assert>'))
    fired = _one(_schema("", f'<report role="{word}" {FIRES}>r</report>'))
    assert (failed.code, failed.severity) == ("schematron.assert", severity)
    assert (fired.code, fired.severity) == ("schematron.report", severity)


def test_the_rules_role_when_the_assertion_has_none() -> None:
    assert _one(_schema('role="info"', f"<assert {FAILS}>q</assert>")).severity == "INFO"
    own = _one(_schema('role="info"', f'<assert role="warning" {FAILS}>q</assert>'))
    assert own.severity == "WARNING"


def test_flag_when_no_role_says_a_severity() -> None:
    assert _one(_schema("", f'<assert flag="Warning" {FAILS}>q</assert>')).severity == "WARNING"
    assert _one(_schema("", f'<report flag="ERROR" {FIRES}>r</report>')).severity == "ERROR"
    # A role that names no severity (a category) leaves it to the flag.
    category = _one(_schema("", f'<assert role="usability" flag="info" {FAILS}>q</assert>'))
    assert category.severity == "INFO"
    # The rule's flag when the assertion has none.
    assert _one(_schema('flag="info"', f"<assert {FAILS}>q</assert>")).severity == "INFO"
    # A role beats a flag.
    assert _one(_schema("", f'<assert role="info" flag="fatal" {FAILS}>q</assert>')).severity == (
        "INFO"
    )


def test_defaults_without_role_or_flag() -> None:
    assert _one(_schema("", f"<assert {FAILS}>q</assert>")).severity == "ERROR"
    assert _one(_schema("", f"<report {FIRES}>r</report>")).severity == "WARNING"
    unknown = _one(_schema('role="style"', f'<report flag="odd" {FIRES}>r</report>'))
    assert unknown.severity == "WARNING"


def test_a_finding_names_its_rule_its_xpath_and_line() -> None:
    own = _one(_schema('id="items"', f'<assert id="qty" {FAILS}>quantity is 0</assert>'))
    assert own.message == "quantity is 0 (rule 'qty')"
    assert (own.path, own.line) == ("/order/item", 2)
    ruled = _one(_schema('id="items"', f"<assert {FAILS}>quantity is 0</assert>"))
    assert ruled.message == "quantity is 0 (rule 'items')"
    anonymous = _one(_schema("", f"<assert {FAILS}>quantity is 0</assert>"))
    assert anonymous.message == "quantity is 0"
    # `rule`: the assertion's id, else its rule's, else its pattern's.
    assert (own.rule, ruled.rule, anonymous.rule) == ("qty", "items", None)
    patterned = _one(
        _schema("", f"<assert {FAILS}>q</assert>").replace("<pattern>", '<pattern id="p">')
    )
    assert (patterned.rule, patterned.message) == ("p", "q")


def test_redacted_findings_keep_severity_and_never_quote_the_file() -> None:
    schema = _schema(
        'id="items"',
        f'<assert role="warning" {FAILS}>sku <value-of select="@sku"/></assert>',
    )
    (finding,) = check({"schema_type": "schematron", "schema": schema}, ORDER, redact=True)
    assert finding.message == "schematron rule 'items' failed"
    assert (finding.severity, finding.path, finding.line) == ("WARNING", "/*[1]/*[1]", 2)


PHASED = f"""<schema {NS} {{head}}>
  <phase id="quantities"><active pattern="q"/></phase>
  <phase id="ids"><active pattern="i"/></phase>
  <pattern id="q"><rule context="item">
    <assert id="qty" {FAILS}>quantity</assert></rule></pattern>
  <pattern id="i"><rule context="order">
    <assert id="id2" test="@id = '2'" role="warning">id</assert></rule></pattern>
  <pattern id="s"><rule context="item">
    <report id="sku" {FIRES} role="info">sku</report></rule></pattern>
</schema>"""


def _rules(phase: str | None, head: str = "") -> set[str]:
    config = {"schema_type": "schematron", "schema": PHASED.format(head=head)}
    if phase is not None:
        config["phase"] = phase
    return {f.message.split("'")[1] for f in check(config, ORDER)}


def test_a_phase_selects_its_patterns() -> None:
    assert _rules("quantities") == {"qty"}
    assert _rules("ids") == {"id2"}
    assert _rules("#ALL") == _rules(None) == {"qty", "id2", "sku"}
    # #DEFAULT (as no phase) is the schema's defaultPhase, else every pattern.
    assert _rules("#DEFAULT") == {"qty", "id2", "sku"}
    assert _rules("#DEFAULT", 'defaultPhase="ids"') == _rules(None, 'defaultPhase="ids"')
    assert _rules(None, 'defaultPhase="ids"') == {"id2"}
    assert _rules("#ALL", 'defaultPhase="ids"') == {"qty", "id2", "sku"}


def test_an_unknown_phase_is_refused_at_save_and_a_finding_at_run_time() -> None:
    spec = get_validator("xml-schema")
    config = {"schema_type": "schematron", "schema": PHASED.format(head=""), "phase": "costs"}
    with pytest.raises(ConfigError, match=r"phase 'costs' is not a phase of the schema"):
        spec.check_config(config)
    assert spec.check_config({**config, "phase": "ids"}) == []
    bad_default = {**config, "schema": PHASED.format(head='defaultPhase="nope"')}
    with pytest.raises(ConfigError, match="defaultPhase 'nope' is not a phase"):
        spec.check_config({k: v for k, v in bad_default.items() if k != "phase"})
    (finding,) = check(config, ORDER)
    assert (finding.severity, finding.code) == ("ERROR", "xml.refused")
    assert "'quantities', 'ids'" in finding.message


def test_a_schema_resource_with_an_unknown_phase_is_an_error_finding(tmp_path: Path) -> None:
    schema = PHASED.format(head="").encode()
    copy = tmp_path / "rules.sch"
    copy.write_bytes(schema)
    envelope = InputEnvelope(
        run_id="R" * 20,
        org_id="o",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="xml-schema", version="1"),
        config={"schema_type": "schematron", "schema_resource": "rules.sch", "phase": "costs"},
        files=[],
        callback_url="http://127.0.0.1:9",
        callback_id="c" * 32,
        output_uri=(tmp_path / "out.json").as_uri(),
        timeout_seconds=60,
        resources=[
            InputFile(
                name="rules.sch",
                uri=copy.as_uri(),
                sha256=hashlib.sha256(schema).hexdigest(),
                size_bytes=len(schema),
                content_type="application/xml",
            )
        ],
    )
    item = InputFile(
        name="o.xml", uri="file:///x", sha256="0" * 64, size_bytes=1, content_type="application/xml"
    )
    (finding,) = validate(envelope, [(item, Payload(data=ORDER))]).findings
    assert (finding.severity, finding.code) == ("ERROR", "xml.refused")
    assert "'costs' is not a phase" in finding.message


def test_hostile_schemas_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text("<s>TOP-SECRET</s>")
    spec = get_validator("xml-schema")
    reading = _schema("", f"<assert test=\"document('{secret}')/s = 'x'\">no</assert>")
    let = f"""<schema {NS}><let name="d" value="document ( '{secret.as_uri()}' )"/>
      <pattern><rule context="item"><assert test="$d/s">x</assert></rule></pattern></schema>"""
    entity = f'<!DOCTYPE schema [<!ENTITY x SYSTEM "{secret.as_uri()}">]>' + _schema(
        "", f"<assert {FAILS}>&x;</assert>"
    )
    include = f'<schema {NS}><pattern><include href="{secret}"/></pattern></schema>'
    for schema, words in [
        (reading, "calls document()"),
        (let, "calls document()"),
        (entity, "declares entities"),
        (include, "includes another document"),
    ]:
        with pytest.raises(ConfigError, match=words):
            spec.check_config({"schema_type": "schematron", "schema": schema})
        (finding,) = check({"schema_type": "schematron", "schema": schema}, ORDER)
        assert finding.code == "xml.refused" and "TOP-SECRET" not in finding.message


def test_the_steps_lxml_runs_cannot_read_files_even_past_the_checks(tmp_path: Path) -> None:
    """The sealed stylesheets are the backstop of the checks above: lxml's own include
    step, the compiled rules and an XSD's extraction are all denied the file system."""
    from lxml import etree

    from shared.contract.xml_schemas import XmlRefused, _sealed_schematron

    secret = tmp_path / "rules.xml"
    secret.write_text(
        f'<rule {NS} context="order"><assert test="false()">TOP-SECRET</assert></rule>'
    )
    sealed = _sealed_schematron()
    including = f'<schema {NS}><pattern><include href="{secret}"/></pattern></schema>'
    extracting = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f'<xs:include schemaLocation="{secret}"/></xs:schema>'
    )
    for schema in (including, extracting):
        with pytest.raises(etree.XSLTApplyError, match=r"denied|Unable to locate"):
            sealed(etree.fromstring(schema), "#ALL")
    reading = _schema("", f"<assert test=\"document('{secret}')\">no</assert>")
    validator = sealed(etree.fromstring(reading), "#ALL")
    with pytest.raises(XmlRefused, match=r"read rights .* denied"):
        validator.validate(etree.fromstring(ORDER))
