"""The json-schema check on hostile files: each is one clear ERROR finding with line and
column, never a crashed job, and a legitimate file is unaffected."""

from __future__ import annotations

import pytest

from validators.json_schema.validator import MAX_DEPTH, check

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("data", "code", "line", "column", "words"),
    [
        (b'{"a": "x",\n "a": 1}', "duplicate_key", 2, 2, "'a' appears twice"),
        (b'{"a": ' + b"7" * 5000 + b"}", "number_too_long", 1, 7, "5000 digits"),
        (b'{"a": NaN}', "not_json", 1, 7, "NaN is not JSON"),
        (b'{"a": -Infinity}', "not_json", 1, 8, "Infinity is not JSON"),
        (b"[" * 100_000, "too_deep", 1, MAX_DEPTH + 1, f"deeper than {MAX_DEPTH}"),
        (b'{"a": 1,}', "invalid_json", 1, 9, "not valid JSON"),
    ],
    ids=[
        "duplicate keys",
        "5,000-digit integer",
        "NaN",
        "-Infinity",
        "100,000 deep",
        "trailing comma",
    ],
)
def test_a_hostile_file_is_one_finding_with_its_position(data, code, line, column, words):
    (finding,) = check({"schema": SCHEMA}, data)
    assert (finding.severity, finding.code, finding.line, finding.column) == (
        "ERROR",
        code,
        line,
        column,
    )
    assert words in finding.message


def test_strings_that_look_like_trouble_are_only_strings():
    data = b'{"a": 1, "note": "NaN, Infinity, [[[[ and 7777 are fine inside a string \\" ["}'
    assert check({"schema": SCHEMA}, data) == []


def test_duplicate_keys_no_longer_let_the_last_value_win():
    (finding,) = check({"schema": SCHEMA}, b'{"a": "x", "a": 1}')
    assert finding.code == "duplicate_key"
