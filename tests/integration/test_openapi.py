"""The contract is built from the models and is a valid OpenAPI 3.1 document whose
schemas resolve; docs/openapi.json is what `make openapi` writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.api.openapi import ROLE_EXTENSION, document, endpoint_of, rendered
from shared.domain.enums import Role

ROOT = Path(__file__).resolve().parents[2]
# The handlers import as functions-framework loads them: beside functions/main.py.
sys.path.insert(0, str(ROOT / "functions"))

from handlers.api import PUBLIC, ROLES, URLS  # noqa: E402


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_checked_in_contract_is_current() -> None:
    assert (ROOT / "docs" / "openapi.json").read_text() == rendered(ROLES), "run `make openapi`"


def test_every_reference_resolves_and_every_operation_answers_problems() -> None:
    doc = document(ROLES)
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
    doc = json.loads(rendered(ROLES))
    assert doc["openapi"] == "3.1.0" and doc["security"] == [{"apiKey": []}]
    step = doc["components"]["schemas"]["StepIn"]["properties"]
    assert step["validator"]["enum"] == ["energyplus", "fmu", "json-schema", "shacl", "xml-schema"]
    assert step["timeout_seconds"]["maximum"] == 3600


def _operations() -> dict[str, dict[str, Any]]:
    doc = document(ROLES)
    return {
        endpoint_of(op["operationId"]): op
        for item in doc["paths"].values()
        for op in item.values()
        if op.get("security") != []
    }


def test_each_operation_states_the_role_its_route_declares_and_documents_403() -> None:
    operations = _operations()
    assert set(operations) == set(ROLES)
    for endpoint, operation in operations.items():
        role = ROLES[endpoint]
        assert operation[ROLE_EXTENSION] == role.value, endpoint
        assert f"role `{role.value}` or above" in operation["description"], endpoint
        # A viewer's route has no role below it to refuse.
        assert ("403" in operation["responses"]) == (role is not Role.VIEWER), endpoint
    assert "`admin`" in operations["update_workflow"]["description"]
    assert "its own submissions" in operations["cancel_run"]["description"]


def test_a_route_without_a_role_cannot_be_documented() -> None:
    partial = {k: v for k, v in ROLES.items() if k != "submit"}
    with pytest.raises(KeyError, match="submit"):
        document(partial)


@pytest.mark.parametrize("rule", list(URLS.iter_rules()), ids=lambda r: str(r.endpoint))
def test_every_authenticated_route_declares_a_role(rule: Any) -> None:
    if rule.endpoint in PUBLIC:
        return
    assert isinstance(ROLES.get(rule.endpoint), Role), f"{rule.endpoint} declares no role"
