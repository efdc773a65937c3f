"""Run credentials on the real API (functions-framework test client, Firestore emulator,
the IAM stand-in signing as the signer account): a finished run's credential verifies
with joserfc and the published keys alone, independently of Assay's code; a changed
byte, another file or an unknown key fails, in joserfc and in `assay verify`; it is
issued once; a DO_NOT_STORE run's verifies after its content is gone; a credential
signed before the signer's key rotated still verifies (decision record 0086)."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from click.testing import CliRunner
from joserfc import errors, jwt
from joserfc.jwk import KeySet

from cli.verify import verify
from devstack.metadata_server import MetadataServer
from shared import wiring
from tests.factories import make_org, workflow_body

SIGNER = "assay-signer@assay-test.iam.gserviceaccount.com"
ISSUER = "https://assay.example.test"
VALID = b'{"name": "Ada", "email": "ada@example.com"}'


@pytest.fixture
def stand_in(serve: Any, monkeypatch: pytest.MonkeyPatch) -> MetadataServer:
    server = MetadataServer([SIGNER], None, "assay-test")
    url = serve(server).url
    for key, value in {
        "ASSAY_CREDENTIAL_SIGNER": SIGNER,
        "ASSAY_CREDENTIAL_ISSUER": ISSUER,
        "ASSAY_IAM_ENDPOINT": url,
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    return server


@pytest.fixture
def signing(api: Any, stand_in: MetadataServer) -> Any:
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body(execution="auto"))
    assert created.status_code == 201, created.get_json()
    return api


def _run(api: Any, data: bytes = VALID, slug: str = "people") -> dict[str, Any]:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/{slug}/runs",
        data=data,
        headers={"Content-Type": "application/json", "Prefer": "wait=10"},
    )
    assert answer.status_code in (200, 202), answer.get_json()
    run: dict[str, Any] = answer.get_json()["run"]
    return run


def _credential(api: Any, run_id: str) -> str:
    answer = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/credential")
    assert answer.status_code == 200, answer.get_json()
    token: str = answer.get_json()["credential"]
    return token


def _keys(api: Any) -> dict[str, Any]:
    answer = api.client.get("/.well-known/jwks.json")  # no key: public
    assert answer.status_code == 200
    assert "max-age" in answer.headers["Cache-Control"]
    keys: dict[str, Any] = answer.get_json()
    return keys


def _checked(token: str, keys: dict[str, Any]) -> dict[str, Any]:
    """What a third party does, with joserfc and no Assay code."""
    claims: dict[str, Any] = jwt.decode(token, KeySet.import_key_set(keys), ["RS256"]).claims
    return claims


def _changed_payload(token: str) -> str:
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["vc"]["credentialSubject"]["result"] = "PASS" if "FAIL" in body else "FAIL"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def _with_kid(token: str, kid: str) -> str:
    _, body, signature = token.split(".")
    header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode()
    return f"{base64.urlsafe_b64encode(header).rstrip(b'=').decode()}.{body}.{signature}"


def test_a_pass_runs_credential_verifies_with_the_published_keys_alone(signing: Any) -> None:
    run = _run(signing)
    assert run["result"] == "PASS"
    token = _credential(signing, run["id"])
    assert _credential(signing, run["id"]) == token  # issued once, the same after
    claims = _checked(token, _keys(signing))

    assert claims["iss"] == ISSUER and claims["sub"] == f"urn:assay:run:{run['id']}"
    assert claims["vc"]["type"] == ["VerifiableCredential", "AssayValidationCredential"]
    subject = claims["vc"]["credentialSubject"]
    assert subject["input_sha256"] == hashlib.sha256(VALID).hexdigest()
    assert (subject["result"], subject["run_id"]) == ("PASS", run["id"])
    assert subject["workflow"]["slug"] == "people" and subject["workflow"]["version"] == 1
    manifest = subject["manifest"]
    assert hashlib.sha256(rfc8785.dumps(manifest)).hexdigest() == subject["manifest_sha256"]
    served = signing.get(f"/v1/orgs/{signing.org}/runs/{run['id']}/evidence").get_json()
    assert served == manifest


def test_a_changed_byte_or_an_unknown_key_fails(signing: Any) -> None:
    token = _credential(signing, _run(signing)["id"])
    keys = _keys(signing)
    with pytest.raises(errors.BadSignatureError):
        _checked(_changed_payload(token), keys)
    with pytest.raises(errors.JoseError):
        _checked(_with_kid(token, "a-key-nobody-published"), keys)
    signature = token.rsplit(".", 1)[1]
    flipped = ("B" if signature[10] != "B" else "C").join([signature[:10], signature[11:]])
    with pytest.raises(errors.BadSignatureError):
        _checked(token.rsplit(".", 1)[0] + "." + flipped, keys)


def _verify(tmp_path: Path, data: bytes, token: str, keys: dict[str, Any]) -> Any:
    (tmp_path / "file.json").write_bytes(data)
    (tmp_path / "jwks.json").write_text(json.dumps(keys))
    (tmp_path / "credential.jwt").write_text(token)
    args = [str(tmp_path / "file.json"), "--credential", str(tmp_path / "credential.jwt")]
    args += ["--jwks", str(tmp_path / "jwks.json"), "--issuer", ISSUER]
    return _said(CliRunner().invoke(verify, args))


def _said(result: Any) -> Any:
    """The command's result with its output unwrapped (rich wraps long lines)."""
    result.said = " ".join(result.output.split())
    return result


def test_assay_verify_exits_0_with_what_was_proven_and_1_with_what_failed(
    signing: Any, tmp_path: Path
) -> None:
    run = _run(signing)
    token, keys = _credential(signing, run["id"]), _keys(signing)
    proven = _verify(tmp_path, VALID, token, keys)
    assert proven.exit_code == 0, proven.output
    assert "'people' version 1: result PASS" in proven.said and run["id"] in proven.said

    other = _verify(tmp_path, VALID + b" ", token, keys)
    assert other.exit_code == 1 and "not the file" in other.said
    changed = _verify(tmp_path, VALID, _changed_payload(token), keys)
    assert changed.exit_code == 1 and "changed" in changed.said
    unknown = _verify(tmp_path, VALID, _with_kid(token, "rotated-away"), keys)
    assert unknown.exit_code == 1 and "does not publish" in unknown.said
    as_string = _said(
        CliRunner().invoke(
            verify,
            [
                str(tmp_path / "file.json"),
                "--credential",
                token,
                "--jwks",
                str(tmp_path / "jwks.json"),
            ],
            env={"ASSAY_API_URL": "https://someone.else.test"},
        )
    )
    assert as_string.exit_code == 1 and "not issued by https://someone.else.test" in as_string.said


def test_concurrent_first_requests_store_one_credential(signing: Any) -> None:
    run_id = _run(signing)["id"]
    with ThreadPoolExecutor(4) as pool:
        tokens = set(pool.map(lambda _: _credential(signing, run_id), range(4)))
    assert len(tokens) == 1
    stored = signing.repos.credentials.find(signing.org, run_id)
    assert stored is not None and {stored.jws} == tokens


def test_a_run_not_ended_is_409_and_another_orgs_is_404(signing: Any) -> None:
    created = signing.post(f"/v1/orgs/{signing.org}/workflows", json=workflow_body(slug="queued"))
    assert created.status_code == 201
    pending = _run(signing, slug="queued")  # the job path: its launch is never delivered
    answer = signing.get(f"/v1/orgs/{signing.org}/runs/{pending['id']}/credential")
    assert answer.status_code == 409 and answer.mimetype == "application/problem+json"

    ended = _run(signing)["id"]
    _, other_key = make_org(signing.repos, "other")
    path = f"/v1/orgs/{signing.org}/runs/{ended}/credential"
    foreign = signing.client.get(path, headers={"Authorization": f"Bearer {other_key}"})
    assert foreign.status_code == 404


def test_a_do_not_store_runs_credential_verifies_after_its_content_is_gone(
    signing: Any,
) -> None:
    body = workflow_body(
        slug="secret",
        execution="auto",
        retention={"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"},
    )
    assert signing.post(f"/v1/orgs/{signing.org}/workflows", json=body).status_code == 201
    secret = b'{"name": "Ada", "email": "nobody-may-read-this@example.com"}'
    answered = signing.post(
        f"/v1/orgs/{signing.org}/workflows/secret/runs",
        data=secret,
        headers={"Content-Type": "application/json", "Prefer": "wait=10"},
    ).get_json()
    assert answered["submission"]["content_stored"] is False
    assert answered["submission"]["content_purged_at"] is not None
    token = _credential(signing, answered["run"]["id"])
    subject = _checked(token, _keys(signing))["vc"]["credentialSubject"]
    assert subject["input_sha256"] == hashlib.sha256(secret).hexdigest()
    assert b"nobody-may-read-this" not in base64.urlsafe_b64decode(token.split(".")[1] + "==")


def test_a_credential_signed_before_the_key_rotated_still_verifies(
    signing: Any, stand_in: MetadataServer, tmp_path: Path
) -> None:
    before = _credential(signing, _run(signing)["id"])
    old_kid = stand_in.blob_minter.key_id
    new_kid = stand_in.rotate()  # and the x509 endpoint lists only the new key
    after = _credential(signing, _run(signing)["id"])  # signed again, naming the new key
    keys = _keys(signing)
    assert {k["kid"] for k in keys["keys"]} == {old_kid, new_kid}
    assert _checked(before, keys)["iss"] == _checked(after, keys)["iss"] == ISSUER
    assert json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "=="))["kid"] == new_kid
    assert _verify(tmp_path, VALID, before, keys).exit_code == 0


def test_no_signer_configured_is_a_501(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_CREDENTIAL_SIGNER", raising=False)
    wiring.reset()
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body(execution="auto"))
    assert created.status_code == 201
    answer = api.get(f"/v1/orgs/{api.org}/runs/{_run(api)['id']}/credential")
    assert answer.status_code == 501
    assert api.client.get("/.well-known/jwks.json").get_json() == {"keys": []}
