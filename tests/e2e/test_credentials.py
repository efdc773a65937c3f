"""Run credentials on the local stack, verified as a third party would: `assay verify`
in its own process, with the file, the credential and the API's public keys (fetched
from $ASSAY_API_URL/.well-known/jwks.json); exit 0 for the file the run checked, 1 for
another file, a changed credential or an unknown key; a DO_NOT_STORE run's verifies
after its content is purged; one signed before the signer's key rotated still does."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, wait_for, wait_for_purge
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "assay")
VALID = b'{"name": "Ada", "email": "ada@example.com"}'


def _verify(stack: Any, tmp_path: Path, data: bytes, credential: str) -> Any:
    """`assay verify` with nothing but PATH, HOME and where the stack's settings are
    (ASSAY_API_URL, from which it takes the issuer and the keys): no API key."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "ASSAY_LOCAL_DIR": str(stack.state),
    }
    (tmp_path / "model.json").write_bytes(data)
    args = [CLI, "verify", str(tmp_path / "model.json"), "--credential", credential]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _run(stack: Any, org: Any, slug: str, data: bytes = VALID) -> dict[str, Any]:
    org_id, headers = org
    submitted = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/{slug}/runs",
        data=data,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    return wait_for(stack, org_id, headers, submitted.json()["run"]["id"])


def _credential(stack: Any, org: Any, run_id: str) -> str:
    org_id, headers = org
    answer = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}/credential", headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["credential"]
    return token


def _create(stack: Any, org: Any, slug: str, **extra: Any) -> None:
    org_id, headers = org
    created = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows",
        json=workflow_body(slug, **extra),
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def _encoded(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def passed(stack: Any, org: Any) -> tuple[dict[str, Any], str]:
    _create(stack, org, "credential-pass")
    run = _run(stack, org, "credential-pass")
    assert run["result"] == "PASS"
    return run, _credential(stack, org, run["id"])


def test_assay_verify_proves_the_file_and_exits_0(stack: Any, passed: Any, tmp_path: Path) -> None:
    run, token = passed
    (tmp_path / "credential.jwt").write_text(token)
    done = _verify(stack, tmp_path, VALID, str(tmp_path / "credential.jwt"))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "'credential-pass' version 1: result PASS" in said and run["id"] in said


def test_assay_verify_exits_1_for_another_file_a_changed_credential_or_an_unknown_key(
    stack: Any, passed: Any, tmp_path: Path
) -> None:
    _, token = passed
    other = _verify(stack, tmp_path, VALID.replace(b"Ada", b"Bob"), token)
    assert other.returncode == 1 and "not the file" in " ".join(other.stderr.split())

    head, _, signature = token.split(".")
    payload = _segment(token, 1)
    payload["vc"]["credentialSubject"]["result"] = "FAIL"
    changed = _verify(stack, tmp_path, VALID, f"{head}.{_encoded(payload)}.{signature}")
    assert changed.returncode == 1 and "changed" in changed.stderr

    header = {**_segment(token, 0), "kid": "a-key-the-issuer-never-had"}
    unknown = _verify(stack, tmp_path, VALID, f"{_encoded(header)}.{token.split('.', 1)[1]}")
    assert unknown.returncode == 1 and "does not publish" in " ".join(unknown.stderr.split())


def test_a_purged_do_not_store_runs_credential_still_verifies(
    stack: Any, org: Any, tmp_path: Path
) -> None:
    retention = {"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"}
    _create(stack, org, "credential-secret", retention=retention)
    secret = b'{"name": "Ada", "email": "only-the-hash-stays@example.com"}'
    run = _run(stack, org, "credential-secret", secret)
    org_id, headers = org
    submission = wait_for_purge(stack, org_id, headers, run["submission_id"], 60)
    assert submission["content_stored"] is False and submission["content_purged_at"]
    token = _credential(stack, org, run["id"])
    assert b"only-the-hash-stays" not in json.dumps(_segment(token, 1)).encode()
    done = _verify(stack, tmp_path, secret, token)
    assert done.returncode == 0, done.stderr


def test_a_credential_signed_before_the_key_rotated_still_verifies(
    stack: Any, org: Any, passed: Any, tmp_path: Path
) -> None:
    _, before = passed
    rotated = requests.post(stack.env["ASSAY_METADATA_URL"] + "/_local/rotate", timeout=10)
    new_kid = rotated.json()["keyId"]
    after = _credential(stack, org, _run(stack, org, "credential-pass")["id"])
    assert _segment(after, 0)["kid"] == new_kid != _segment(before, 0)["kid"]
    keys = requests.get(f"{stack.api}/.well-known/jwks.json", timeout=10).json()["keys"]
    assert {_segment(before, 0)["kid"], new_kid} <= {k["kid"] for k in keys}
    assert _verify(stack, tmp_path, VALID, before).returncode == 0
    assert _verify(stack, tmp_path, VALID, after).returncode == 0
