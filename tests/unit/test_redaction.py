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

from shared.contract.envelopes import (
    InputEnvelope,
    InputFile,
    OutputArtifact,
    OutputEnvelope,
    OutputFinding,
    ValidatorRef,
)
from shared.domain.enums import Severity
from tests.factories import PROBE_SCHEMA, PROBE_XSD, input_envelope
from validators import redaction
from validators.energyplus.err import parse_err
from validators.payload import Payload
from validators.runtime import CheckFailed, ValidationResult, produce_output

SECRET = "SECRET-0D6F2C9B41A8"
SCHEMA, XSD = PROBE_SCHEMA, PROBE_XSD


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

    data = b"{\n}\n"
    item = InputFile(name="f", uri="inline:f", sha256="0" * 64, size_bytes=2, content_type="x")
    envelope = input_envelope("json-schema", config={"schema": SCHEMA}, redact_values=True)
    ref = ValidatorRef(name="json-schema", version="1")
    output = produce_output(hostile, envelope, lambda: [(item, Payload(data=data))], ref, 30.0)
    assert not _leaks(output)
    (found,) = output.findings
    assert (found.code, found.path, found.line) == ("finding.withheld", "/*/0/name[2]", 3)
    assert output.metrics == {"files": 1}


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


FOLDER = "file:///tmp/unused"


def _hostile_output(
    validator: str, config: dict[str, Any], result: ValidationResult, data: bytes = b"{}"
) -> OutputEnvelope:
    """produce_output under DO_NOT_STORE with an engine that returns `result`."""

    def hostile(envelope: InputEnvelope, files: Any) -> ValidationResult:
        return result

    item = InputFile(
        name="f", uri="inline:f", sha256="0" * 64, size_bytes=len(data), content_type="x"
    )
    envelope = input_envelope(validator, config=config, redact_values=True)
    ref = ValidatorRef(name=validator, version="1")
    return produce_output(hostile, envelope, lambda: [(item, Payload(data=data))], ref, 30.0)


def test_metric_names_the_validator_does_not_declare_are_dropped() -> None:
    metrics: dict[str, int | float | str | None] = {
        "level_final": 1.5,
        "level_min": SECRET,
        "level_max": float("nan"),
        SECRET: 1.0,
        f"level_{SECRET}": 2.0,
        "files": 1,
    }
    output = _hostile_output("fmu", {"outputs": ["level"]}, ValidationResult(metrics=metrics))
    assert not _leaks(output)
    assert output.metrics == {"level_final": 1.5, "level_min": None, "level_max": None}


def test_artifacts_are_only_the_declared_ones_where_they_are_written() -> None:
    def artifact(name: str, uri: str, sha256: str | None = None) -> OutputArtifact:
        return OutputArtifact(name=name, uri=uri, sha256=sha256, size_bytes=3)

    good = "a" * 64
    found = [
        artifact(SECRET, f"{FOLDER}/{SECRET}", good),
        artifact("result.csv", f"{FOLDER}/{SECRET}/result.csv", good),
        artifact("result.csv", f"file:///tmp/{SECRET}/result.csv", good),
        artifact("eplusout.err", f"{FOLDER}/eplusout.err", good),  # another validator's
        artifact("result.csv", f"{FOLDER}/result.csv", SECRET),
        artifact("result.csv", f"{FOLDER}/result.csv", good),
    ]
    output = _hostile_output("fmu", {"outputs": []}, ValidationResult(artifacts=found))
    assert not _leaks(output)
    assert [(a.name, a.uri, a.sha256) for a in output.artifacts] == [
        ("result.csv", f"{FOLDER}/result.csv", None),
        ("result.csv", f"{FOLDER}/result.csv", good),
    ]
    # A validator that declares none keeps none.
    json_output = _hostile_output("json-schema", {}, ValidationResult(artifacts=found))
    assert json_output.artifacts == []


def test_positions_are_clamped_to_the_file() -> None:
    data = b'{\n  "a": 1\n}'  # lines of 1, 8 and 1 bytes
    places = [(0x534543, 1), (2, 0x534543), (2, 9), (3, 1), (None, 4), (0, 1), (-1, -1)]
    found = [
        OutputFinding(
            severity=Severity.ERROR, code="invalid_json", message=SECRET, line=li, column=co
        )
        for li, co in places
    ]
    output = _hostile_output("json-schema", {}, ValidationResult(findings=found), data)
    assert [(f.line, f.column) for f in output.findings] == [
        (None, None),
        (2, None),
        (2, 9),
        (3, 1),
        (None, None),
        (None, None),
        (None, None),
    ]
    assert "5456195" not in output.model_dump_json()


@pytest.mark.parametrize(
    ("line", "column", "lines", "kept"),
    [
        (1, 1, [0], (1, 1)),
        (1, 2, [0], (1, None)),
        (2, 1, [5], (None, None)),
        (3, 7, None, (3, 7)),
        (11, 1, None, (None, None)),
        (10, 11, None, (10, None)),
    ],
)
def test_position_bounds(
    line: int, column: int, lines: list[int] | None, kept: tuple[int | None, int | None]
) -> None:
    assert redaction.position(line, column, lines, bound=10) == kept


def test_line_lengths_cross_chunks() -> None:
    assert redaction.line_lengths([b"ab", b"c\nd", b"", b"\n"]) == [3, 1, 0]
    assert redaction.line_lengths([]) == [0]


def test_the_rebuild_is_the_same_twice() -> None:
    """The callback rebuilds what the job's parent rebuilt: nothing may change."""
    from validators.json_schema import validator as module

    data = b'{"name": "%s", "tags": ["ok", 1]}' % SECRET.encode()
    once = _output("json-schema", module, data, {"schema": SCHEMA})
    scope = redaction.Scope("json-schema", {"schema": SCHEMA}, FOLDER)
    assert once.findings and redaction.output(once, scope) == once


def test_a_version_that_is_not_a_release_is_withheld() -> None:
    assert [redaction.version(v) for v in ("dev", "1.0.0", "0a60e7f", SECRET)] == [
        "dev",
        "1.0.0",
        "0a60e7f",
        "withheld",
    ]


def test_the_declared_metrics_are_the_ones_the_validators_write() -> None:
    np = pytest.importorskip("numpy")
    from validators.energyplus.tables import METRICS
    from validators.fmu.validator import _metrics

    assert tuple(redaction.ENERGYPLUS_METRICS) == tuple(METRICS)
    result = np.array([(0.0, 1.0), (1.0, 2.0)], dtype=[("time", "f8"), ("level", "f8")])
    written = _metrics(result, ["level"])
    assert set(written) == redaction.declared_metrics("fmu", {"outputs": ["level"]})


def test_the_fast_engines_failure_is_logged_by_its_type(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A value jsonschema-rs cannot take makes it raise, its text quoting the value: the
    debug log names the exception's type, never its text."""
    from validators.json_schema import validator as module

    class Quotes:
        def is_valid(self, instance: Any) -> bool:
            raise ValueError(f"cannot take {instance['name']}")

    monkeypatch.setattr(module, "fast_validator", lambda config: (Quotes(), None))
    caplog.set_level("DEBUG", logger=module.log.name)
    data = b'{"name": "%s"}' % SECRET.encode()
    found = module.findings({"schema": SCHEMA}, [Payload(data=data)], True)
    assert [f.code for f in found] == ["schema.type"]
    assert "ValueError" in caplog.text and SECRET not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


def test_facts_keep_declared_names_engine_words_and_numbers_only() -> None:
    found = {
        "zone_count": 3,
        "version": SECRET,
        "energyplus_version": "25.2.0",
        "has_hvac": True,
        "run_period_days": float("nan"),
        "object_counts": {"Zone": 3, SECRET: 1, "Material": "many"},
        SECRET.lower(): 1,
    }
    kept = redaction.facts(found, "energyplus", frozenset({"Zone", "Material"}))
    assert kept == {
        "zone_count": 3,
        "version": None,
        "energyplus_version": "25.2.0",
        "has_hvac": True,
        "run_period_days": None,
        "object_counts": {"Zone": 3, "Material": None},
    }
    assert redaction.facts({"zone_count": 1}, "shacl", frozenset()) == {}


def test_a_finding_keeps_its_rule_only_when_the_author_wrote_it() -> None:
    known = redaction.words({"schema": "<sch:rule id='zone-rule'/>"})
    said = [
        OutputFinding(severity=Severity.ERROR, code="xml.schematron", message=SECRET, rule=r)
        for r in ("zone-rule", SECRET)
    ]
    assert [redaction.finding(f, known).rule for f in said] == ["zone-rule", None]


def test_the_declared_facts_are_the_ones_the_energyplus_validator_reads() -> None:
    from validators.energyplus.facts import model_facts

    assert tuple(model_facts({}, "25.2.0")) == redaction.ENERGYPLUS_FACTS
