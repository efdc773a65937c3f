"""The contract is built from the models and is a valid OpenAPI 3.1 document whose
schemas resolve; docs/openapi.json is what `make openapi` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.openapi import document, rendered

ROOT = Path(__file__).resolve().parents[2]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_checked_in_contract_is_current() -> None:
    assert (ROOT / "docs" / "openapi.json").read_text() == rendered(), "run `make openapi`"


def test_every_reference_resolves_and_every_operation_answers_problems() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue
            codes = set(operation["responses"])
            assert {"400", "401", "404", "422"} <= codes, (method, path)
            problem = operation["responses"]["404"]["content"]
            assert list(problem) == ["application/problem+json"]


def test_the_contract_is_json_serializable_and_3_1() -> None:
    doc = json.loads(rendered())
    assert doc["openapi"] == "3.1.0" and doc["security"] == [{"apiKey": []}]
    step = doc["components"]["schemas"]["StepIn"]["properties"]
    assert step["validator"]["enum"] == ["energyplus", "fmu", "json-schema", "xml-schema"]
    assert step["timeout_seconds"]["maximum"] == 3600
