import pytest

from shared.catalog.validators import ConfigError, get_validator
from validators.json_schema.validator import _careful, check, json_pointer

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "items": {"type": "array", "items": {"type": "integer"}},
        "a/b~c": {"type": "integer"},
    },
}


def test_a_valid_document_has_no_findings():
    assert check({"schema": SCHEMA}, b'{"name": "x", "email": "x@example.com"}') == []


def test_every_violation_is_a_finding_with_a_json_pointer():
    findings = check({"schema": SCHEMA}, b'{"email": "nope", "items": [1, "two"], "a/b~c": "s"}')
    got = {(f.code, f.path) for f in findings}
    assert got == {
        ("schema.required", ""),
        ("schema.format", "/email"),
        ("schema.type", "/items/1"),
        ("schema.type", "/a~1b~0c"),
    }
    assert all(f.severity == "ERROR" for f in findings)


@pytest.mark.parametrize("draft", ["7", "2020-12"])
def test_both_drafts_are_supported(draft):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert [f.path for f in check({"schema": schema, "draft": draft}, b'{"n": "x"}')] == ["/n"]


def test_draft_7_semantics_apply_when_asked():
    # `dependentRequired` exists only from 2019-09; draft 7 ignores it.
    schema = {"dependentRequired": {"a": ["b"]}}
    assert check({"schema": schema, "draft": "7"}, b'{"a": 1}') == []
    assert len(check({"schema": schema, "draft": "2020-12"}, b'{"a": 1}')) == 1


def test_a_file_that_is_not_json_is_one_error_with_line_and_column():
    findings = check({"schema": SCHEMA}, b'{\n  "name": "x",\n  oops\n}')
    assert len(findings) == 1
    assert (findings[0].code, findings[0].line, findings[0].column) == ("invalid_json", 3, 3)


def test_pointer_escaping():
    assert json_pointer([]) == ""
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"


def test_config_checks_refuse_an_invalid_schema():
    spec = get_validator("json-schema")
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        spec.check_config({"schema": {"type": "no-such-type"}})
    with pytest.raises(ConfigError, match="required"):
        spec.check_config({})
    with pytest.raises(ConfigError, match="draft"):
        spec.check_config({"schema": {}, "draft": "3"})
    with pytest.raises(ConfigError, match="unknown validator"):
        get_validator("nope")


SECRET_SCHEMA = {
    "type": "object",
    "properties": {
        "ssn": {"type": "integer"},
        "code": {"type": "string", "pattern": "^[0-9]+$"},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
    },
    "additionalProperties": False,
}
SECRET_FILE = (
    b'{"ssn": "SSN 123-45-6789", "code": "SSN 123-45-6789", "tags": ["SSN 123-45-6789"],'
    b' "SSN 123-45-6789": 1}'
)


def test_redacted_findings_say_what_and_where_but_never_quote_the_file():
    from validators.json_schema.validator import check

    findings = check({"schema": SECRET_SCHEMA}, SECRET_FILE, redact=True)
    assert {f.code for f in findings} == {
        "schema.type",
        "schema.pattern",
        "schema.enum",
        "schema.additionalProperties",
    }
    assert all("123-45-6789" not in f.message for f in findings)
    by_code = {f.code: f for f in findings}
    assert by_code["schema.type"].message == "the value at /ssn does not satisfy 'type' 'integer'"
    assert by_code["schema.type"].path == "/ssn"
    assert by_code["schema.pattern"].message.endswith("'pattern' '^[0-9]+$'")
    assert by_code["schema.additionalProperties"].message == (
        "the value at the document root does not satisfy 'additionalProperties' False"
    )


def test_unredacted_messages_may_quote_but_are_bounded():
    from validators.json_schema.validator import MAX_MESSAGE, check

    plain = check({"schema": SECRET_SCHEMA}, SECRET_FILE)
    assert any("123-45-6789" in f.message for f in plain)  # jsonschema's own words
    huge = b'{"ssn": "' + b"x" * 10_000 + b'"}'
    (finding,) = check({"schema": SECRET_SCHEMA}, huge)
    assert len(finding.message) == MAX_MESSAGE and finding.message.endswith("…")


def test_the_schemas_own_dialect_wins_then_the_steps_draft_then_2020_12():
    import jsonschema

    from shared.contract.json_schema_drafts import validator_class

    seven = {"$schema": "http://json-schema.org/draft-07/schema#"}
    assert validator_class({"schema": seven, "draft": "2020-12"}) is jsonschema.Draft7Validator
    assert validator_class({"schema": {}, "draft": "7"}) is jsonschema.Draft7Validator
    assert validator_class({"schema": {}}) is jsonschema.Draft202012Validator


def test_a_draft7_schema_is_read_as_draft7_when_refs_are_checked_at_save():
    # A draft-7 `items` array is no 2020-12 subschema: reading it as one crashed the save.
    spec = get_validator("json-schema")
    items = {"items": [{"$ref": "#/definitions/x"}], "definitions": {"x": {"type": "string"}}}
    assert spec.check({"schema": items, "draft": "7"}) == []
    with pytest.raises(ConfigError, match="#/definitions/nope"):
        spec.check({"schema": {"items": [{"$ref": "#/definitions/nope"}]}, "draft": "7"})


def test_the_engine_is_chosen_per_schema():
    from shared.contract.json_schema_engine import CAREFUL, FAST, engine_for, fast_validator

    assert engine_for({"schema": {"type": "object"}}) == FAST
    # \d is ASCII in jsonschema-rs, Unicode in Python: such a key keeps jsonschema.
    word_keys = {"schema": {"patternProperties": {"^\\d+$": {"type": "string"}}}}
    assert engine_for(word_keys) == CAREFUL
    assert "patternProperties key" in fast_validator(word_keys)[1][0]
    # Where they differ, the fast engine answers as jsonschema does: Python's `pattern`,
    # jsonschema's multipleOf, and 2020-12 ignoring draft-7's `dependencies`.
    cases = [
        ({"pattern": "^a$"}, "a\n"),
        ({"multipleOf": 0.01}, 19.99),
        ({"dependencies": {"a": ["b"]}}, {"a": 1}),
        ({"format": "email"}, "a..b@example.com"),
    ]
    for schema, value in cases:
        import json

        data = json.dumps(value).encode()
        fast, _ = fast_validator({"schema": schema})
        assert fast is not None
        careful = _careful({"schema": schema}, data, False)  # jsonschema alone
        assert fast.is_valid(value) == (careful == []), schema
