"""A JSON Schema's `$ref` never makes Assay fetch a URL: references must resolve within
the schema when the workflow is saved (else a 422 naming the step and the pointer), and
the validator job resolves nothing remotely even for a schema saved before that check."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import workflow_body
from validators.json_schema.validator import check


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that records every request (it answers a valid schema)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def _save(api: Any, schema: dict[str, Any]) -> Any:
    body = workflow_body(steps=2)
    body["steps"][1]["config"] = {"schema": schema}
    return api.post(f"/v1/orgs/{api.org}/workflows", json=body)


def test_a_remote_ref_is_refused_at_save_without_being_fetched(api: Any, listener: Any) -> None:
    url, hits = listener
    schema = {"type": "object", "properties": {"a": {"$ref": f"{url}/evil.json"}}}
    answer = _save(api, schema)
    assert answer.status_code == 422
    detail = answer.get_json()["detail"]
    assert "steps[1] ('Schema 1')" in detail and "/properties/a/$ref" in detail
    assert "not fetched" in detail
    assert hits == []


def test_a_ref_to_nowhere_inside_the_schema_is_refused(api: Any) -> None:
    answer = _save(api, {"$ref": "#/$defs/missing"})
    assert answer.status_code == 422 and "config.schema/$ref" in answer.get_json()["detail"]


def test_references_within_the_schema_are_fine(api: Any) -> None:
    schema = {
        "$id": "https://example.com/person.json",
        "$defs": {
            "name": {"type": "string"},
            "address": {
                "$id": "address.json",
                "$defs": {"zip": {"type": "string"}},
                "$ref": "#/$defs/zip",
            },
        },
        "properties": {
            "name": {"$ref": "#/$defs/name"},
            "home": {"$ref": "address.json"},
            "const": {"const": {"$ref": "not a reference, a value"}},
        },
    }
    assert _save(api, schema).status_code == 201


def test_the_job_fetches_nothing_even_for_a_schema_saved_before_the_check(listener: Any) -> None:
    url, hits = listener
    schema = {"type": "object", "properties": {"a": {"$ref": f"{url}/evil.json"}}}
    (finding,) = check({"schema": schema}, b'{"a": 1}')
    assert finding.code == "unresolvable_ref" and finding.severity == "ERROR"
    assert hits == []


def test_a_schema_in_another_drafts_words_is_saved_with_a_warning(api: Any) -> None:
    looks_7 = {"definitions": {"n": {"type": "string"}}, "dependencies": {"a": ["b"]}}
    answer = _save(api, looks_7)
    assert answer.status_code == 201
    (warning,) = answer.get_json()["warnings"]
    assert warning.startswith("steps[1] ('Schema 1'): the schema is checked as draft 2020-12")
    assert "['definitions', 'dependencies']" in warning and "draft 7" in warning
    again = api.get(f"/v1/orgs/{api.org}/workflows/people").get_json()
    assert again["warnings"] == [warning]

    body = workflow_body()
    body["steps"][0]["config"] = {"schema": {"$defs": {"n": {}}}, "draft": "7"}
    updated = api.client.put(
        f"/v1/orgs/{api.org}/workflows/people", json=body, headers=api.headers()
    )
    assert "checked as draft 7 but uses ['$defs']" in updated.get_json()["warnings"][0]
    body["steps"][0]["config"] = {"schema": {"type": "object"}}
    clean = api.client.put(f"/v1/orgs/{api.org}/workflows/people", json=body, headers=api.headers())
    assert clean.get_json()["warnings"] == []


def test_format_assertion_is_a_step_option() -> None:
    schema = {"properties": {"email": {"type": "string", "format": "email"}}}
    data = b'{"email": "not an address"}'
    (finding,) = check({"schema": schema}, data)
    assert finding.code == "schema.format" and finding.path == "/email"
    assert check({"schema": schema, "format_assertion": False}, data) == []


def test_format_assertion_must_be_a_boolean(api: Any) -> None:
    body = workflow_body()
    body["steps"][0]["config"]["format_assertion"] = "yes"
    answer = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert answer.status_code == 422 and "format_assertion" in answer.get_json()["detail"]
