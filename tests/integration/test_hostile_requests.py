"""A catalogue of hostile requests against the real `api` function (functions-framework's
test client, the Firestore emulator): each gets its exact 4xx and a problem+json body
that says why, never a 500, before and after authentication; and legitimate JSON that
Firestore could not hold as a map round-trips."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.factories import workflow_body


def _token(doc_id: str) -> str:
    return base64.urlsafe_b64encode(doc_id.encode()).decode().rstrip("=")


def _problem(answer: Any, status: int, fragment: str) -> None:
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    assert answer.content_type == "application/problem+json"
    assert fragment in answer.get_json()["detail"], answer.get_json()


BEFORE_AUTH = [
    ("key with '.' as id", {"Authorization": "Bearer assay_._secret"}, 401, "malformed"),
    ("key with '..' as id", {"Authorization": "Bearer assay_.._secret"}, 401, "malformed"),
    ("key with a reserved id", {"Authorization": "Bearer assay___x___secret"}, 401, "malformed"),
    ("key of another scheme", {"Authorization": "Basic Zm9vOmJhcg=="}, 401, "Bearer"),
    ("no key", {}, 401, "API key"),
]


@pytest.mark.parametrize(
    ("case", "headers", "status", "fragment"), BEFORE_AUTH, ids=[c[0] for c in BEFORE_AUTH]
)
def test_before_authentication(
    api: Any, case: str, headers: dict[str, str], status: int, fragment: str
) -> None:
    deep = b"[" * 200_000
    for method, path, body in (
        ("GET", f"/v1/orgs/{api.org}/runs/..", None),
        ("POST", f"/v1/orgs/{api.org}/workflows", deep),
        ("GET", "/v1/orgs/__x__/runs?page_token=__x__", None),
    ):
        answer = api.client.open(path, method=method, data=body, headers=headers)
        _problem(answer, status, fragment)


def _paths(api: Any) -> dict[str, tuple[str, str, Any, int, str]]:
    org = api.org
    return {
        "run id '..'": ("GET", f"/v1/orgs/{org}/runs/..", None, 404, "no run"),
        "run id '.'": ("GET", f"/v1/orgs/{org}/runs/.", None, 404, "no run"),
        "run id '__x__'": ("GET", f"/v1/orgs/{org}/runs/__x__", None, 404, "no run"),
        "run findings of '__name__'": (
            "GET",
            f"/v1/orgs/{org}/runs/__name__/findings",
            None,
            404,
            "no run",
        ),
        "submission id '__x__'": (
            "GET",
            f"/v1/orgs/{org}/submissions/__x__",
            None,
            404,
            "no submission",
        ),
        "cancel of '..'": ("POST", f"/v1/orgs/{org}/runs/../cancel", None, 404, ""),
        "rerun of '__x__'": (
            "POST",
            f"/v1/orgs/{org}/submissions/__x__/runs",
            None,
            404,
            "no submission",
        ),
        "workflow slug '__x__'": (
            "GET",
            f"/v1/orgs/{org}/workflows/__x__",
            None,
            404,
            "no workflow",
        ),
        "another org": ("GET", "/v1/orgs/__x__/runs", None, 404, "not yours"),
        "page token of '__x__'": (
            "GET",
            f"/v1/orgs/{org}/runs?page_token={_token('__x__')}",
            None,
            400,
            "page_token",
        ),
        "page token of '..'": (
            "GET",
            f"/v1/orgs/{org}/runs?page_token={_token('..')}",
            None,
            400,
            "page_token",
        ),
        "page token of ''": (
            "GET",
            f"/v1/orgs/{org}/runs?page_token=%3D%3D",
            None,
            400,
            "page_token",
        ),
        "page token not base64": (
            "GET",
            f"/v1/orgs/{org}/runs?page_token=%FF%FE",
            None,
            400,
            "page_token",
        ),
        "findings page token": (
            "GET",
            f"/v1/orgs/{org}/runs/{'a' * 20}/findings?page_token={_token('.')}",
            None,
            404,
            "",
        ),
        "unknown status": (
            "GET",
            f"/v1/orgs/{org}/runs?status=BOGUS",
            None,
            400,
            "status must be one of",
        ),
        "unknown severity": (
            "GET",
            f"/v1/orgs/{org}/runs/{'a' * 20}/findings?severity=LOUD",
            None,
            400,
            "severity",
        ),
        "workflow filter '..'": ("GET", f"/v1/orgs/{org}/runs?workflow=..", None, 400, "workflow"),
        "unicode digit limit": ("GET", f"/v1/orgs/{org}/runs?limit=%C2%B2", None, 400, "limit"),
        "5,000-digit limit": ("GET", f"/v1/orgs/{org}/runs?limit={'9' * 5000}", None, 400, "limit"),
        "upload generation '²'": (
            "GET",
            f"/v1/orgs/{org}/uploads/people/x.json?generation=%C2%B2",
            None,
            400,
            "generation",
        ),
        "workflow nested 200,000 deep": (
            "POST",
            f"/v1/orgs/{org}/workflows",
            b"[" * 200_000,
            400,
            "nested too deeply",
        ),
        "workflow with a lone surrogate": (
            "POST",
            f"/v1/orgs/{org}/workflows",
            b'{"name": "\\ud800", "slug": "x", "steps": []}',
            400,
            "not valid Unicode",
        ),
        "workflow body not JSON": (
            "POST",
            f"/v1/orgs/{org}/workflows",
            b"{nope",
            400,
            "not valid JSON",
        ),
        "rerun body nested deep": (
            "POST",
            f"/v1/orgs/{org}/submissions/{'a' * 20}/runs",
            b"[" * 200_000,
            400,
            "nested too deeply",
        ),
    }


CASES = list(_paths(type("A", (), {"org": "ORG"})()))


@pytest.mark.parametrize("case", CASES)
def test_after_authentication(api: Any, case: str) -> None:
    method, path, body, status, fragment = _paths(api)[case]
    headers = api.headers(**({"Content-Type": "application/json"} if body is not None else {}))
    answer = api.client.open(path, method=method, data=body, headers=headers)
    _problem(answer, status, fragment)


def test_an_envelope_with_a_lone_surrogate_is_a_400(api: Any) -> None:
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body()).status_code == 201
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"content": "\\ud800", "filename": "x.json"}',
        headers={"Content-Type": "application/json"},
    )
    _problem(answer, 400, "not valid Unicode")


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        value = {"type": "object", "properties": {"inner": value}}
    return value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"__meta__": {"type": "string"}}},
        {"type": "object", "properties": {"": {"type": "integer"}}},
        {"type": "object", "properties": {"__name__": {"const": "x"}}},
        _nested(30),
    ],
    ids=["__meta__ property", "empty property name", "__name__ property", "nested 30 deep"],
)
def test_legitimate_schemas_firestore_could_not_store_as_maps_round_trip(
    api: Any, schema: dict[str, Any]
) -> None:
    body = workflow_body()
    body["steps"][0]["config"] = {"schema": schema}
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert created.status_code == 201, created.get_json()
    stored = api.get(f"/v1/orgs/{api.org}/workflows/people").get_json()
    assert stored["steps"][0]["config"]["schema"] == schema


def test_metadata_with_keys_firestore_refuses_round_trips(api: Any) -> None:
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body()).status_code == 201
    metadata = {"__name__": 1, "": [1, {"__x__": None}], "deep": _nested(25)}
    envelope = {"content": json.dumps({"name": "Ada"}), "filename": "a.json", "metadata": metadata}
    answer = api.post(f"/v1/orgs/{api.org}/workflows/people/runs", json=envelope)
    assert answer.status_code == 202, answer.get_json()
    submission = api.get(f"/v1/orgs/{api.org}/submissions/{answer.get_json()['submission']['id']}")
    assert submission.get_json()["metadata"] == metadata


def test_an_oversized_body_is_a_413_declared_or_chunked(api: Any, serve: Any) -> None:
    """Over real HTTP: a body is refused at the cap whether it states its length or not."""
    import requests
    from functions_framework import create_app

    from shared.api.http import MAX_JSON_BODY

    server = serve(create_app(target="api", source="functions/main.py"))
    url = f"{server.url}/v1/orgs/{api.org}/workflows"
    headers = api.headers(**{"Content-Type": "application/json"})
    big = b" " * (MAX_JSON_BODY + 1)
    declared = requests.post(url, data=big, headers=headers, timeout=30)
    assert declared.status_code == 413 and "at most" in declared.json()["detail"]

    def chunks() -> Any:
        for _ in range(MAX_JSON_BODY // 65536 + 2):
            yield b" " * 65536

    chunked = requests.post(url, data=chunks(), headers=headers, timeout=30)
    assert chunked.status_code == 413 and "over" in chunked.json()["detail"]
    assert chunked.headers["Content-Type"] == "application/problem+json"


def test_an_envelope_with_only_json_content_is_a_json_file(api: Any) -> None:
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body()).status_code == 201
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs", json={"content": '{"name": "Ada"}'}
    )
    assert answer.status_code == 202, answer.get_json()
    submission = answer.get_json()["submission"]
    assert (submission["file_type"], submission["content_type"]) == ("json", "application/json")
    # Content that is not JSON, with nothing else said, is not taken for JSON.
    refused = api.post(f"/v1/orgs/{api.org}/workflows/people/runs", json={"content": "name: Ada"})
    assert refused.status_code == 415


def test_oversized_metadata_and_config_are_422s_naming_the_field(api: Any) -> None:
    from shared.api.intake import MAX_METADATA_BYTES
    from shared.services.workflows import MAX_STEP_CONFIG_BYTES

    body = workflow_body(steps=2)
    body["steps"][1]["config"] = {"schema": {"description": "x" * MAX_STEP_CONFIG_BYTES}}
    _problem(
        api.post(f"/v1/orgs/{api.org}/workflows", json=body),
        422,
        "steps[1] ('Schema 1'): config is",
    )
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body()).status_code == 201
    envelope = {"content": "{}", "metadata": {"notes": "y" * MAX_METADATA_BYTES}}
    answer = api.post(f"/v1/orgs/{api.org}/workflows/people/runs", json=envelope)
    _problem(answer, 422, "metadata is")
    assert api.repos.runs.page(api.org).items == []  # nothing half-written


def test_a_chunked_multipart_body_over_the_cap_is_a_413(
    api: Any, serve: Any, monkeypatch: Any
) -> None:
    import requests
    from functions_framework import create_app

    from shared import wiring

    monkeypatch.setenv("ASSAY_MAX_UPLOAD_BYTES", "100000")
    wiring.reset()
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body()).status_code == 201
    server = serve(create_app(target="api", source="functions/main.py"))
    boundary = "xyz"

    def chunks() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        for _ in range(10):
            yield b" " * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = requests.post(
        f"{server.url}/v1/orgs/{api.org}/workflows/people/runs",
        data=chunks(),
        headers={**api.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    assert answer.status_code == 413, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.repos.runs.page(api.org).items == []

    def small() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        yield b'{"name": "Ada"}'
        yield f"\r\n--{boundary}--\r\n".encode()

    accepted = requests.post(
        f"{server.url}/v1/orgs/{api.org}/workflows/people/runs",
        data=small(),
        headers={**api.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["submission"]["original_filename"] == "a.json"
