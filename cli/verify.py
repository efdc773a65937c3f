"""`assay verify FILE --credential CRED`: checks, with nothing but the file, the
credential and the issuer's public keys, that this file is the one a run's credential
was signed for (decision record 0086). Exit 0 with what was proven, 1 with what failed.

It needs no account and no API key, and none of Assay's server code: PyJWT checks the
signature (RS256 only) and the issuer, hashlib the file, rfc8785 the manifest's digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.output import emit, fail

FAILED = 1
CREDENTIAL_TYPE = "AssayValidationCredential"


def _failed(as_json: bool, message: str) -> NoReturn:
    fail(as_json, f"not verified: {message}", FAILED)


def _token(value: str) -> str:
    """The credential from a file naming it, else the JWS itself."""
    try:
        return Path(value).read_text().strip()
    except OSError:  # no such file, or a name too long to be one: the JWS itself
        return value.strip()


def _api_url() -> str:
    return os.environ.get("ASSAY_API_URL", "").rstrip("/")


def _key_set(source: str | None, as_json: bool) -> dict[str, Any]:
    """The issuer's JWK Set from a URL or a file (default: the API's)."""
    import requests

    source = source or (f"{_api_url()}/.well-known/jwks.json" if _api_url() else None)
    if source is None:
        fail(as_json, "say where the issuer's keys are (--jwks), or set ASSAY_API_URL", 4)
    try:
        if source.startswith(("https://", "http://")):
            answer = requests.get(source, timeout=30)
            answer.raise_for_status()
            keys: Any = answer.json()
        else:
            keys = json.loads(Path(source).read_text())
    except (requests.RequestException, OSError, ValueError) as exc:
        fail(as_json, f"cannot read the keys at {source}: {exc}", 2)
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        fail(as_json, f"{source} is not a JWK Set", 2)
    return keys


def _claims(token: str, keys: dict[str, Any], issuer: str, as_json: bool) -> dict[str, Any]:
    """The credential's claims once its signature and issuer are checked."""
    import jwt

    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        _failed(as_json, f"the credential is not a JWS: {exc}")
    found = [k for k in keys["keys"] if isinstance(k, dict) and k.get("kid") == kid]
    if not found:
        _failed(as_json, f"it names key {kid!r}, which the issuer does not publish")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwt.PyJWK(found[0], algorithm="RS256"),
            algorithms=["RS256"],
            issuer=issuer,
            options={"require": ["iss", "iat", "sub"], "verify_aud": False},
        )
    except jwt.InvalidIssuerError:
        _failed(as_json, f"it was not issued by {issuer}")
    except jwt.InvalidSignatureError:
        _failed(as_json, "its signature does not match: the credential was changed")
    except jwt.PyJWTError as exc:
        _failed(as_json, f"the credential does not verify: {exc}")
    return claims


def _subject(claims: dict[str, Any], as_json: bool) -> dict[str, Any]:
    vc = claims.get("vc")
    if not isinstance(vc, dict) or CREDENTIAL_TYPE not in vc.get("type", []):
        _failed(as_json, f"it is not an {CREDENTIAL_TYPE}")
    subject = vc.get("credentialSubject")
    if not isinstance(subject, dict):
        _failed(as_json, "it has no credentialSubject")
    return subject


def _check_manifest(subject: dict[str, Any], as_json: bool) -> None:
    """The manifest it carries (when small) is the one its digest names, about the
    same input."""
    import rfc8785

    manifest = subject.get("manifest")
    if manifest is None:
        return
    if hashlib.sha256(rfc8785.dumps(manifest)).hexdigest() != subject.get("manifest_sha256"):
        _failed(as_json, "its manifest does not hash to the manifest_sha256 it names")
    if (manifest.get("input") or {}).get("sha256") != subject.get("input_sha256"):
        _failed(as_json, "its manifest is about another input")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _proven(path: Path, sha: str, claims: dict[str, Any], subject: dict[str, Any]) -> str:
    from datetime import UTC, datetime

    workflow = subject.get("workflow") or {}
    issued = datetime.fromtimestamp(int(claims["iat"]), UTC).isoformat()
    return (
        f"Verified: {path.name} (sha256 {sha}) ran workflow {workflow.get('slug')!r} "
        f"version {workflow.get('version')}: result {subject.get('result')}, run "
        f"{subject.get('run_id')} ended {subject.get('ended_at')}. Issued by "
        f"{claims['iss']} at {issued}."
    )


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--credential", required=True, help="The credential: a file holding it, or it.")
@click.option(
    "--jwks", help="The issuer's keys, a URL or a file [$ASSAY_API_URL/.well-known/jwks.json]."
)
@click.option("--issuer", help="The issuer to trust [$ASSAY_API_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(
    file: Path, credential: str, jwks: str | None, issuer: str | None, as_json: bool
) -> None:
    """Check that FILE is the file a run's credential is about, signed by its issuer."""
    issuer = (issuer or _api_url()).rstrip("/")
    if not issuer:
        fail(as_json, "say which issuer to trust (--issuer), or set ASSAY_API_URL", 4)
    claims = _claims(_token(credential), _key_set(jwks, as_json), issuer, as_json)
    subject = _subject(claims, as_json)
    _check_manifest(subject, as_json)
    sha = _sha256(file)
    if sha != subject.get("input_sha256"):
        _failed(
            as_json,
            f"{file.name} is not the file it is about "
            f"(its sha256 is {sha}; the credential's is {subject.get('input_sha256')})",
        )
    payload = {
        "verified": True,
        "file_sha256": sha,
        "issuer": claims["iss"],
        "issued_at": claims["iat"],
        "subject": subject,
    }
    emit(as_json, payload, _proven(file, sha, claims, subject))
