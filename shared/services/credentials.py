"""A run's signed credential (decision record 0086): a W3C Verifiable Credential in its
JWT form (VC Data Model 1.1, section 6.3.1), signed RS256 by a dedicated service account
through IAM Credentials' `signBlob`, so Assay never holds the private key.

It is issued once per ended run, on the first request, and stored: later requests answer
the same JWS, and of two first requests signing at once one stored credential stands
for both. The key that signed it is stored with it, as a public JWK, when it first
signs, and published for ever (`jwks`): a credential verifies after Google rotates the
account's keys and stops listing the old one.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Final

from google.auth import crypt, jwt

from shared.adapters.signing import IamSigner
from shared.domain.credentials import IssuedCredential, SigningKey
from shared.domain.evidence import Manifest, canonical, digest
from shared.persistence.ports import Repositories
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import NotConfigured, Transient
from shared.services import evidence

VC_CONTEXT: Final = "https://www.w3.org/2018/credentials/v1"
CREDENTIAL_TYPES: Final = ("VerifiableCredential", "AssayValidationCredential")
# A manifest up to this size (its canonical form) rides in the credential whole; a
# bigger one (a workflow of many steps) only by its digest, next to the fields a
# verifier needs. Either way the credential stays well under a header's size.
INLINE_MANIFEST_BYTES: Final = 16 * 1024
GOOGLE_X509: Final = "https://www.googleapis.com/service_accounts/v1/metadata/x509/{email}"
# signBlob names the key it used; naming another in the header means signing again.
SIGN_ATTEMPTS: Final = 3


class BlobSigner(crypt.Signer):
    """google-auth's Signer over IAM's signBlob: the header names `key_id`, the key we
    expect IAM to sign with; `used` is the one it did sign with."""

    def __init__(self, iam: IamSigner, key_id: str | None) -> None:
        self._iam = iam
        self._key_id = key_id
        self.used: str | None = None

    @property
    def key_id(self) -> str | None:
        return self._key_id

    def sign(self, message: str | bytes) -> bytes:
        data = message.encode() if isinstance(message, str) else message
        signature, self.used = self._iam.sign_blob(data)
        return signature


def subject(manifest: Manifest) -> dict[str, Any]:
    """What the credential says of the run: what a verifier checks and prints, the
    manifest's digest, and the manifest itself when it is small."""
    whole = canonical(manifest)
    claims: dict[str, Any] = {
        "id": f"urn:assay:run:{manifest.run_id}",
        "run_id": manifest.run_id,
        "input_sha256": manifest.input.sha256 if manifest.input else None,
        "manifest_sha256": digest(manifest),
        "workflow": {
            "id": manifest.workflow.id,
            "slug": manifest.workflow.slug,
            "version": manifest.workflow.version,
        },
        "status": manifest.status.value,
        "result": manifest.result.value,
        "ended_at": manifest.ended_at.isoformat() if manifest.ended_at else None,
    }
    if len(whole) <= INLINE_MANIFEST_BYTES:
        claims["manifest"] = manifest.model_dump(mode="json")
    return claims


def claims(manifest: Manifest, issuer: str, issued_at: int) -> dict[str, Any]:
    """The JWT claims of a VC-JWT: iss the issuer, sub the run, nbf/iat the issuance,
    jti the credential's own id; no exp (decision record 0086)."""
    body = subject(manifest)
    return {
        "iss": issuer,
        "sub": body["id"],
        "iat": issued_at,
        "nbf": issued_at,
        "jti": f"urn:uuid:{uuid.uuid4()}",
        "vc": {
            "@context": [VC_CONTEXT],
            "type": list(CREDENTIAL_TYPES),
            "credentialSubject": body,
        },
    }


def sign(iam: IamSigner, payload: dict[str, Any], expected: str | None) -> tuple[str, str]:
    """The compact JWS of `payload` and the kid it names, which is the key that signed:
    when signBlob signs with another key than the header names, sign again naming it."""
    key_id = expected
    for _ in range(SIGN_ATTEMPTS):
        signer = BlobSigner(iam, key_id)
        token = jwt.encode(signer, payload).decode()
        if signer.used and signer.used == key_id:
            return token, key_id
        key_id = signer.used
    raise Transient("the signer's key changed while signing; retry", headers={"Retry-After": "1"})


def public_jwk(kid: str, cert_pem: str) -> dict[str, Any]:
    """The RFC 7517 JWK of an RSA certificate's public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotConfigured(f"the signer's key {kid} is not an RSA key")
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": _b64_int(numbers.n),
        "e": _b64_int(numbers.e),
    }


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def certs_url(settings: Settings, email: str) -> str:
    """Where the signer's certificates are published: Google's x509 endpoint, or the
    local IAM stand-in's copy of it."""
    if settings.iam_endpoint:
        return f"{settings.iam_endpoint.rstrip('/')}/service_accounts/v1/metadata/x509/{email}"
    return GOOGLE_X509.format(email=email)


def _certificate(settings: Settings, email: str, kid: str) -> str:
    import requests

    try:
        answer = requests.get(certs_url(settings, email), timeout=10)
        answer.raise_for_status()
        pem = answer.json().get(kid)
    except (requests.RequestException, ValueError, AttributeError) as exc:
        raise Transient(f"the signer's certificates cannot be read just now: {exc}") from exc
    if not isinstance(pem, str):
        # Not published (yet): a credential nobody could verify is not issued.
        raise Transient(f"the signer's key {kid} is not published yet; retry")
    return pem


def _publish(
    repos: Repositories, settings: Settings, known: list[SigningKey], kid: str, at: datetime
) -> None:
    """Keeps the key that just signed, before its credential is stored: no stored
    credential names a key the JWKS does not hold."""
    if any(k.kid == kid for k in known):
        return
    email = settings.credential_signer
    jwk = public_jwk(kid, _certificate(settings, email, kid))
    repos.signing_keys.keep(SigningKey(kid=kid, signer=email, jwk=jwk, first_used_at=at))


def _expected_kid(known: list[SigningKey], email: str) -> str | None:
    """The key that signed last: most likely the one signBlob signs with now."""
    mine = [k for k in known if k.signer == email]
    return mine[-1].kid if mine else None


# One client per signer and endpoint, for the process's life (tests change endpoints).
_SIGNERS: dict[tuple[str, str | None, str | None], IamSigner] = {}


def _iam(settings: Settings, email: str) -> IamSigner:
    key = (email, settings.iam_endpoint, settings.iam_local_secret)
    if key not in _SIGNERS:
        _SIGNERS[key] = IamSigner(settings, email)
    return _SIGNERS[key]


def _configured(settings: Settings) -> tuple[str, str]:
    if not settings.credential_signer or not settings.credential_issuer:
        raise NotConfigured(
            "this deployment issues no credentials (ASSAY_CREDENTIAL_SIGNER and "
            "ASSAY_CREDENTIAL_ISSUER are not both set)"
        )
    return settings.credential_signer, settings.credential_issuer


def credential(
    repos: Repositories, settings: Settings, org_id: str, run_id: str, now: Clock = utcnow
) -> str:
    """The run's credential, issued on the first request and the same JWS after.
    NotFound for a missing or another org's run; Conflict for one not ended."""
    found = repos.credentials.find(org_id, run_id)
    if found is not None:
        return found.jws
    manifest = evidence.manifest(repos, org_id, run_id)
    email, issuer = _configured(settings)
    issued_at = now().replace(microsecond=0)
    payload = claims(manifest, issuer, int(issued_at.timestamp()))
    known = repos.signing_keys.all()
    token, kid = sign(_iam(settings, email), payload, _expected_kid(known, email))
    _publish(repos, settings, known, kid, issued_at)
    issued = IssuedCredential(run_id=run_id, org_id=org_id, jws=token, kid=kid, issued_at=issued_at)
    return repos.credentials.keep(issued).jws


def jwks(repos: Repositories) -> dict[str, Any]:
    """Every key that ever signed a credential, as a JWK Set (RFC 7517)."""
    return {"keys": [key.jwk for key in repos.signing_keys.all()]}
