"""`assay admin create-key --role` and `list-keys` (issue 20, item 5), run in-process
against the Firestore emulator; the key made is then used on the api function."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from cli.main import main
from shared.domain.enums import Role


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_key_made_with_a_role_has_it_and_is_held_to_it(api: Any) -> None:
    made = _cli(
        "admin", "create-key", "--org", api.org, "--name", "dash", "--role", "viewer", "--json"
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["role"] == "viewer"
    assert api.repos.keys.get(created["id"]).role is Role.VIEWER

    viewer = {"Authorization": f"Bearer {created['key']}"}
    assert api.client.get(f"/v1/orgs/{api.org}/runs", headers=viewer).status_code == 200
    refused = api.client.post(f"/v1/orgs/{api.org}/workflows", json={}, headers=viewer)
    assert refused.status_code == 403 and "'author'" in refused.get_json()["detail"]

    listed = json.loads(_cli("admin", "list-keys", "--org", api.org, "--json").output)["keys"]
    assert {k["name"]: k["role"] for k in listed} == {"test": "admin", "dash": "viewer"}
    table = _cli("admin", "list-keys", "--org", api.org).output
    assert "role" in table and "viewer" in table


def test_without_a_role_a_key_is_an_admin_as_before(api: Any) -> None:
    made = json.loads(_cli("admin", "create-key", "--org", api.org, "--json").output)
    assert made["role"] == "admin"
    assert api.repos.keys.get(made["id"]).role is Role.ADMIN
    upper = json.loads(
        _cli("admin", "create-key", "--org", api.org, "--role", "Submitter", "--json").output
    )
    assert upper["role"] == "submitter"


def test_an_unknown_role_is_refused_and_makes_no_key(api: Any) -> None:
    before = len(api.repos.keys.all(api.org))
    done = _cli("admin", "create-key", "--org", api.org, "--role", "owner")
    assert done.exit_code == 2
    assert "'owner' is not a role" in done.output
    assert "viewer, submitter, author, admin" in done.output
    assert len(api.repos.keys.all(api.org)) == before
