"""Schematron with queryBinding xslt2/xslt3 on SaxonC-HE through SchXslt2, on the real
engine: the same severities (@role, @flag, defaults), phases, rule ids, locations and
finding codes as the lxml path; XPath 2 functions; hostile schemas refused at save with
a reason, and Saxon itself sealed from files, URLs and writes at run time; the fast
path refuses it clearly (its address space is too small for Saxon's isolate)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from shared.catalog.validators import ConfigError, get_validator
from shared.contract.envelopes import InputEnvelope, InputFile, OutputFinding
from tests.factories import input_envelope
from validators.payload import Payload
from validators.sandbox import available
from validators.xml_schema.validator import check, inline, needs_saxon

ORDER = b"""<order id="1">
  <item sku="a" quantity="0" due="2024-02-30"/>
  <item sku="B7" quantity="3" due="2024-03-01"/>
</order>"""
NS = 'xmlns="http://purl.oclc.org/dsdl/schematron"'
FAILS = 'test="number(@quantity) &gt; 0"'
FIRES = "test=\"@sku = 'a'\""


def _schema(rule_attrs: str, check_xml: str, binding: str = "xslt2", head: str = "") -> str:
    return f"""<schema {NS} queryBinding="{binding}" {head}>
  <ns prefix="xs" uri="http://www.w3.org/2001/XMLSchema"/>
  <pattern id="p"><rule context="item[1]" {rule_attrs}>{check_xml}</rule></pattern>
</schema>"""


def _findings(schema: str, data: bytes = ORDER, **config: str) -> list[OutputFinding]:
    return check({"schema_type": "schematron", "schema": schema, **config}, data)


def _one(schema: str, **config: str) -> OutputFinding:
    (finding,) = _findings(schema, **config)
    return finding


@pytest.mark.parametrize("binding", ["xslt2", "xslt3", " XSLT3 "])
def test_both_bindings_run_on_saxon_with_xpath_2_functions(binding: str) -> None:
    schema = f"""<schema {NS} queryBinding="{binding}">
  <ns prefix="xs" uri="http://www.w3.org/2001/XMLSchema"/>
  <pattern><rule context="item">
    <assert id="sku" test="matches(@sku, '^[a-z]+$')">sku {{<value-of select="@sku"/>}}</assert>
    <assert id="due" test="@due castable as xs:date">due <value-of select="@due"/></assert>
  </rule></pattern>
</schema>"""
    assert needs_saxon({"schema_type": "schematron", "schema": schema})
    found = {(f.rule, f.message, f.line) for f in _findings(schema)}
    # 2024-02-30 is no date: XPath 1 (lxml) could not tell.
    assert found == {("sku", "sku {B7} (rule 'sku')", 3), ("due", "due 2024-02-30 (rule 'due')", 2)}


@pytest.mark.parametrize(
    "word, severity",
    [("ERROR", "ERROR"), ("Fatal", "ERROR"), ("warn", "WARNING"), ("INFORMATION", "INFO")],
)
def test_role_sets_the_severity(word: str, severity: str) -> None:
    failed = _one(_schema("", f'<assert role="{word}" {FAILS}>q</assert>'))
    fired = _one(_schema("", f'<report role="{word}" {FIRES}>r</report>'))
    assert (failed.code, failed.severity) == ("schematron.assert", severity)
    assert (fired.code, fired.severity) == ("schematron.report", severity)


def test_the_rules_role_then_flag_then_the_defaults() -> None:
    assert _one(_schema('role="info"', f"<assert {FAILS}>q</assert>")).severity == "INFO"
    assert _one(_schema("", f'<assert flag="Warning" {FAILS}>q</assert>')).severity == "WARNING"
    assert _one(_schema('flag="info"', f"<assert {FAILS}>q</assert>")).severity == "INFO"
    category = _one(_schema("", f'<assert role="usability" flag="info" {FAILS}>q</assert>'))
    assert category.severity == "INFO"
    assert _one(_schema("", f'<assert role="info" flag="fatal" {FAILS}>q</assert>')).severity == (
        "INFO"
    )
    assert _one(_schema("", f"<assert {FAILS}>q</assert>")).severity == "ERROR"
    assert _one(_schema("", f"<report {FIRES}>r</report>")).severity == "WARNING"


def test_a_finding_names_its_rule_its_xpath_and_line() -> None:
    own = _one(_schema('id="items"', f'<assert id="qty" {FAILS}>quantity is 0</assert>'))
    assert (own.message, own.rule) == ("quantity is 0 (rule 'qty')", "qty")
    assert (own.path, own.line) == ("/order[1]/item[1]", 2)
    ruled = _one(_schema('id="items"', f"<assert {FAILS}>quantity is 0</assert>"))
    assert (ruled.message, ruled.rule) == ("quantity is 0 (rule 'items')", "items")
    # Else the pattern's id; the message names only an assertion's or a rule's.
    patterned = _one(_schema("", f"<assert {FAILS}>quantity is 0</assert>"))
    assert (patterned.message, patterned.rule) == ("quantity is 0", "p")
    anonymous = _one(_schema("", f"<assert {FAILS}>q</assert>").replace(' id="p"', ""))
    assert anonymous.rule is None


def test_a_namespaced_location_is_xpath_1_with_its_line() -> None:
    data = b'<o xmlns="urn:x">\n\n  <i n="1"/>\n</o>'
    schema = f"""<schema {NS} queryBinding="xslt2"><ns prefix="x" uri="urn:x"/>
      <pattern><rule context="x:i"><assert test="@n = '2'">n</assert></rule></pattern></schema>"""
    (finding,) = _findings(schema, data)
    assert finding.path == (
        "/*[local-name()='o' and namespace-uri()='urn:x'][1]"
        "/*[local-name()='i' and namespace-uri()='urn:x'][1]"
    )
    assert finding.line == 3


def test_redacted_findings_keep_severity_rule_and_positions() -> None:
    schema = _schema(
        'id="items"', f'<assert role="warning" {FAILS}>sku <value-of select="@sku"/></assert>'
    )
    (finding,) = check({"schema_type": "schematron", "schema": schema}, ORDER, redact=True)
    assert finding.message == "schematron rule 'items' failed"
    assert (finding.severity, finding.path, finding.line, finding.rule) == (
        "WARNING",
        "/*[1]/*[1]",
        2,
        "items",
    )


PHASED = f"""<schema {NS} queryBinding="xslt2" {{head}}>
  <phase id="quantities"><active pattern="q"/></phase>
  <phase id="ids"><active pattern="i"/></phase>
  <pattern id="q"><rule context="item">
    <assert id="qty" {FAILS}>quantity</assert></rule></pattern>
  <pattern id="i"><rule context="order">
    <assert id="id2" test="@id = '2'" role="warning">id</assert></rule></pattern>
  <pattern id="s"><rule context="item">
    <report id="sku" {FIRES} role="info">sku</report></rule></pattern>
</schema>"""


def _rules(phase: str | None, head: str = "") -> set[str | None]:
    config = {"schema_type": "schematron", "schema": PHASED.format(head=head)}
    if phase is not None:
        config["phase"] = phase
    return {f.rule for f in check(config, ORDER)}


def test_a_phase_selects_its_patterns() -> None:
    assert _rules("quantities") == {"qty"}
    assert _rules("ids") == {"id2"}
    assert _rules("#ALL") == _rules(None) == {"qty", "id2", "sku"}
    assert _rules(None, 'defaultPhase="ids"') == _rules("#DEFAULT", 'defaultPhase="ids"') == {"id2"}
    spec = get_validator("xml-schema")
    with pytest.raises(ConfigError, match="phase 'costs' is not a phase of the schema"):
        spec.check_config(
            {"schema_type": "schematron", "schema": PHASED.format(head=""), "phase": "costs"}
        )


def test_the_same_findings_as_lxml_for_an_xpath_1_schema() -> None:
    """Each rule of a pattern fires on its own nodes, a pattern's later rule only where
    no earlier one matched, a rule on an ancestor suppresses nothing below it."""
    schema = f"""<schema {NS} queryBinding="xslt1">
  <pattern id="a"><rule context="/"><assert test="false()" role="info">root</assert></rule>
    <rule context="order"><report test="true()">order</report></rule>
    <rule context="item[@sku = 'a']"><assert id="first" {FAILS}>q</assert></rule>
    <rule context="item"><report id="second" test="true()" flag="info">other</report></rule>
  </pattern>
  <pattern><rule context="item" id="b"><assert test="@sku != 'B7'">sku</assert></rule></pattern>
</schema>"""

    def seen(binding: str) -> list[tuple[object, ...]]:
        found = _findings(schema.replace("xslt1", binding))
        # The document node has no line on Saxon (lxml names the root element's).
        return sorted((f.severity, f.code, f.rule, f.message, f.line or 1) for f in found)

    assert seen("xslt2") == seen("xslt1")
    assert {found[3] for found in seen("xslt2")} == {
        "root",
        "order",
        "q (rule 'first')",
        "other (rule 'second')",
        "sku (rule 'b')",
    }


def test_an_error_while_validating_is_a_refused_finding() -> None:
    schema = _schema("", "<assert test=\"xs:date(@due) gt xs:date('2024-01-01')\">d</assert>")
    (finding,) = _findings(schema)
    assert (finding.severity, finding.code) == ("ERROR", "xml.refused")
    assert "FORG0001" in finding.message and "2024-02-30" in finding.message


def _secret(tmp_path: Path) -> tuple[Path, Path]:
    xml, text = tmp_path / "secret.xml", tmp_path / "secret.txt"
    xml.write_text("<s>TOP-SECRET</s>")
    text.write_text("TOP-SECRET")
    return xml, text


XSL = 'xmlns:xsl="http://www.w3.org/1999/XSL/Transform"'
PASSING = '<pattern><rule context="item"><assert test="1">x</assert></rule></pattern>'


def _with(top: str, binding: str = "xslt2", patterns: str = PASSING) -> str:
    """A schema with XSLT at its top level (SchXslt2 copies it into the stylesheet)."""
    return f'<schema {NS} {XSL} queryBinding="{binding}">{top}{patterns}</schema>'


def _hostile(xml: Path, text: Path) -> list[tuple[str, str]]:
    def asserting(test: str) -> str:
        return _schema("", f'<assert test="{test}">x</assert>')

    return [
        (asserting(f"doc('{xml.as_uri()}')/s = 'x'"), r"calls doc\(\)"),
        (asserting(f"document('{xml}')/s = 'x'"), r"calls document\(\)"),
        (asserting(f"fn:unparsed-text ('{text}') = 'x'"), r"calls unparsed-text\(\)"),
        (asserting(f"exists(Q{{http://www.w3.org/2005/xpath-functions}}doc#1('{xml}'))"), "doc"),
        (asserting(f"count(collection('{xml.parent.as_uri()}')) = 0"), r"collection\(\)"),
        (asserting("environment-variable('HOME') = ''"), r"environment-variable\(\)"),
        (
            asserting(
                "function-lookup(QName('http://www.w3.org/2005/xpath-functions', "
                f"'d' || 'oc'), 1)('{xml}')"
            ),
            r"function-lookup\(\)",
        ),
        (
            _with(f'<xsl:include href="{xml.as_uri()}"/>'),
            "xsl:include",
        ),
        (
            _with(
                '<xsl:function name="f:x" xmlns:f="urn:f">'
                f'<xsl:result-document href="{text}.out"><w/></xsl:result-document></xsl:function>'
            ),
            "xsl:result-document",
        ),
        (
            _with(
                '<xsl:function name="f:x" xmlns:f="urn:f">'
                "<xsl:evaluate xpath=\"'d' || 'oc(1)'\"/></xsl:function>"
            ),
            "xsl:evaluate",
        ),
        (
            _with('<xsl:variable name="v" static="yes" select="1"/>', "xslt3"),
            r"compile-time expression \(static\)",
        ),
        (
            _schema("", '<assert test="1" xsl:use-when="true()" ' + XSL + ">x</assert>"),
            r"compile-time expression \(use-when\)",
        ),
        (
            _schema("", '<assert test="saxon:x()" xmlns:saxon="http://saxon.sf.net/">x</assert>'),
            "Saxon's extensions",
        ),
        (
            f"""<schema {NS} queryBinding="xslt2"><pattern documents="'{xml.as_uri()}'">
              <rule context="s"><assert test="false()">x</assert></rule></pattern></schema>""",
            "validates other documents",
        ),
        (
            f'<!DOCTYPE schema [<!ENTITY x SYSTEM "{text.as_uri()}">]>'
            + _schema("", '<assert test="false()">&x;</assert>'),
            "declares entities",
        ),
        (
            _with("", patterns=f'<pattern><include href="{xml}"/></pattern>'),
            "includes another document",
        ),
        (
            f"""<schema {NS} {XSL} queryBinding="xslt2"><pattern><rule context="item">
              <assert test="1"><xsl:value-of select="''" expand-text="yes"/>x</assert>
              <report test="true()"><xsl:text>{{unparsed-text('{text}')}}</xsl:text></report>
            </rule></pattern></schema>""",
            "text reads other documents",
        ),
    ]


def test_hostile_schemas_are_refused_at_save_and_at_run_time(tmp_path: Path) -> None:
    xml, text = _secret(tmp_path)
    spec = get_validator("xml-schema")
    for schema, words in _hostile(xml, text):
        config = {"schema_type": "schematron", "schema": schema}
        with pytest.raises(ConfigError, match=words):
            spec.check_config(config)
        (finding,) = check(config, ORDER)
        assert finding.code == "xml.refused", schema
        assert "TOP-SECRET" not in finding.message
    assert not (tmp_path / "secret.txt.out").exists()


def _unchecked(schema: str) -> object:
    """A compiled schema that skipped the checks of its text: what the sealed processor
    does when a check misses something."""
    from shared.contract.xml_schemas import SaxonSchematron, parse

    return SaxonSchematron(parse(schema.encode()).getroot(), "#ALL")


def test_saxon_itself_reads_and_writes_nothing_past_the_checks(tmp_path: Path) -> None:
    from shared.contract.xml_schemas import XmlRefused, parse

    xml, text = _secret(tmp_path)
    tree = parse(ORDER)
    for test in (
        f"doc('{xml.as_uri()}')/s = 'x'",
        f"unparsed-text('{text}') = 'x'",
        f"count(collection('{tmp_path.as_uri()}')) = 9",
        "doc('http://127.0.0.1:9/x')/s = 'x'",
        f"parse-xml('&lt;!DOCTYPE a SYSTEM &quot;{xml.as_uri()}&quot;&gt;&lt;a/&gt;')/a",
    ):
        validator = _unchecked(_schema("", f'<assert test="{test}">x</assert>'))
        with pytest.raises(XmlRefused, match=r"prohibited|disallowed") as refused:
            validator.validate(tree)  # type: ignore[attr-defined]
        assert "TOP-SECRET" not in refused.value.message
    # unparsed-text-available() and doc-available() say no.
    quiet = _unchecked(
        _schema(
            "",
            f"<report test=\"unparsed-text-available('{text}') or doc-available('{xml}')\">"
            "r</report>",
        )
    )
    assert quiet.validate(tree) is True  # type: ignore[attr-defined]
    assert quiet.validation_report.find("{*}successful-report") is None  # type: ignore[attr-defined]
    # An include in the compiled stylesheet is refused when it compiles.
    with pytest.raises(XmlRefused, match="prohibited"):
        _unchecked(_with(f'<xsl:include href="{xml.as_uri()}"/>'))
    # A result document is kept in memory, never written.
    writing = _with(
        "",
        patterns='<pattern><rule context="item"><report test="true()">'
        f'<xsl:result-document href="{tmp_path.as_uri()}/out.xml"><w/></xsl:result-document>'
        "r</report></rule></pattern>",
    )
    _unchecked(writing).validate(tree)  # type: ignore[attr-defined]
    assert not (tmp_path / "out.xml").exists()


def test_a_files_external_dtd_is_not_read(tmp_path: Path) -> None:
    dtd = tmp_path / "d.dtd"
    dtd.write_text('<!ATTLIST item sku CDATA "TOP-SECRET">')
    data = f'<!DOCTYPE order SYSTEM "{dtd.as_uri()}">'.encode() + ORDER.replace(b' sku="a"', b"")
    schema = _schema("", '<report test="true()"><value-of select="@sku"/>|</report>')
    (finding,) = _findings(schema, data)
    assert finding.message == "|"


def _envelope(config: dict[str, object]) -> InputEnvelope:
    return input_envelope("xml-schema", config=config)


ITEM = InputFile(
    name="o.xml", uri="file:///x", sha256="0" * 64, size_bytes=1, content_type="application/xml"
)


def test_the_fast_path_refuses_an_xslt2_schema_clearly() -> None:
    """Saxon's isolate reserves 32 GiB of address space: under the fast path's bound it
    could not start (it would stop the process), so the check says why instead."""
    from validators.runtime import CheckFailed, validate_within

    schema = _schema("", f"<assert {FAILS}>q</assert>")
    envelope = _envelope({"schema_type": "schematron", "schema": schema})
    with pytest.raises(CheckFailed, match="runs as a job only"):
        validate_within(inline, envelope, [(ITEM, Payload(data=ORDER))], 30, memory_bytes=768 << 20)
    # An XSLT 1 schema still runs there.
    lxml = _envelope({"schema_type": "schematron", "schema": schema.replace("xslt2", "xslt1")})
    result = validate_within(
        inline, lxml, [(ITEM, Payload(data=ORDER))], 30, memory_bytes=768 << 20
    )
    assert [f.rule for f in result.findings] == ["p"]
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY  # this process's


def test_saving_puts_an_xslt2_schema_on_saxon_which_runs_only_as_a_job() -> None:
    spec = get_validator("xml-schema")
    schema = _schema("", f"<assert {FAILS}>q</assert>")
    xslt2 = {"schema_type": "schematron", "schema": schema}
    xslt1 = {"schema_type": "schematron", "schema": schema.replace("xslt2", "xslt1")}
    assert spec.check_config(xslt2) == [] and spec.check_config(xslt1) == []
    assert spec.engine_for is not None
    assert (spec.engine_for(xslt2), spec.engine_for(xslt1)) == ("saxon", "lxml")
    assert not spec.inline_for("saxon") and spec.inline_for("lxml") and spec.inline_for(None)


@pytest.mark.skipif(not available(), reason="bubblewrap cannot run here")
def test_the_job_runs_saxon_in_its_sandbox_with_the_address_space_it_needs() -> None:
    from validators.sandboxed_python import EngineFailed
    from validators.xml_schema.validator import ENGINE, validate

    schema = _schema('id="items"', f'<assert id="qty" role="warning" {FAILS}>q</assert>', "xslt3")
    envelope = _envelope({"schema_type": "schematron", "schema": schema})
    (finding,) = validate(envelope, [(ITEM, Payload(data=ORDER))]).findings
    assert (finding.severity, finding.rule, finding.path, finding.line) == (
        "WARNING",
        "qty",
        "/order[1]/item[1]",
        2,
    )
    # The sandbox other engines get (1 GiB of address space) could not start it.
    with pytest.raises(EngineFailed, match=r"exit code"):
        ENGINE.validate(envelope, [(ITEM, Payload(data=ORDER))])
