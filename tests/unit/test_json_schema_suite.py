"""The json-schema validator agrees with raw `jsonschema` on every case of the official
JSON-Schema-Test-Suite (drafts 2020-12 and 7, optional formats included), as shipped in
the pinned jsonschema's source distribution (`make tools` unpacks it). Cases that
reference remote documents are left out: Assay refuses those by design, raw jsonschema
would fetch them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shared.catalog.validators import ConfigError, get_validator
from validators.json_schema.validator import check

SUITE = Path(__file__).resolve().parents[2] / ".tools" / "json-schema-test-suite" / "tests"
DRAFTS = {
    "draft2020-12": ("2020-12", jsonschema.Draft202012Validator),
    "draft7": ("7", jsonschema.Draft7Validator),
}


def _cases() -> list[Any]:
    cases = []
    for folder, (draft, cls) in DRAFTS.items():
        for path in sorted((SUITE / folder).rglob("*.json")):
            for group in json.loads(path.read_text()):
                if "localhost:1234" in json.dumps(group["schema"]) or path.stem == "refRemote":
                    continue
                name = f"{folder}/{path.relative_to(SUITE / folder)}::{group['description']}"
                cases.append(pytest.param(draft, cls, group, id=name))
    return cases


def test_the_suite_is_there() -> None:
    assert SUITE.is_dir(), "run `make tools` (it unpacks the JSON-Schema-Test-Suite)"
    assert len(_cases()) > 500  # groups of cases; each holds several


@pytest.mark.parametrize(("draft", "cls", "group"), _cases())
def test_agrees_with_jsonschema(draft: str, cls: Any, group: dict[str, Any]) -> None:
    schema = group["schema"]
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        # A pattern Python cannot compile (ECMA-only \\c, \\p{...}): raw jsonschema
        # crashes on these, and Assay refuses the schema when the workflow is saved.
        with pytest.raises(ConfigError, match="not a valid JSON Schema"):
            get_validator("json-schema").check_config({"schema": schema, "draft": draft})
        return
    for test in group["tests"]:
        raw = cls(schema, format_checker=cls.FORMAT_CHECKER).is_valid(test["data"])
        ours = check({"schema": schema, "draft": draft}, json.dumps(test["data"]).encode())
        assert (ours == []) == raw, (test["description"], [f.message for f in ours])


def test_most_of_the_suite_gets_the_fast_engine() -> None:
    from shared.contract.json_schema_engine import FAST, engine_for

    engines = []
    for case in _cases():
        draft, cls, group = case.values
        try:
            cls.check_schema(group["schema"])
        except jsonschema.SchemaError:
            continue
        engines.append(engine_for({"schema": group["schema"], "draft": draft}))
    # The agreement test above holds for every group, whichever engine it got.
    assert engines.count(FAST) / len(engines) > 0.9, engines.count(FAST)
