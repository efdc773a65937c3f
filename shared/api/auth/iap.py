"""Verification of Identity-Aware Proxy's signed header in code (IAP checks people at
the proxy too, in the cloud; decision record 0070).

IAP signs `x-goog-iap-jwt-assertion` with ES256 keys it publishes as a JWK set. The
assertion is checked here against those keys (fetched from a configured URL: Google's by
default, the local identity stand-in's locally), for the issuer, the exact audience of
the console's backend and the expiry. The plain headers IAP also sends
(`x-goog-authenticated-user-email`, `-id`) are never read: anything that reaches the
function without passing the proxy could set them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import exceptions as auth_exceptions
from google.auth import jwt
from pydantic import BaseModel, ConfigDict

from shared.api.auth.key_cache import KeyCache
from shared.platform.config import get_settings
from shared.platform.errors import Unauthorized

ASSERTION_HEADER = "x-goog-iap-jwt-assertion"
IAP_ISSUER = "https://cloud.google.com/iap"
ALGORITHM = "ES256"
# IAP's assertions live ten minutes; a little leeway for the clocks of two machines.
CLOCK_SKEW_SECONDS = 30


class Person(BaseModel):
    """Who IAP signed in: a Google identity, not yet anyone's member."""

    model_config = ConfigDict(frozen=True)

    email: str
    subject: str


def _b64(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _pem(jwk: Mapping[str, Any]) -> str | None:
    """A P-256 key of the set as PEM (what google-auth's ES256 verifier reads); None for
    a key of any other kind, which no ES256 assertion can name."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    try:
        numbers = ec.EllipticCurvePublicNumbers(_b64(jwk["x"]), _b64(jwk["y"]), ec.SECP256R1())
        key = numbers.public_key()
    except (KeyError, TypeError, ValueError):
        return None
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _parse(document: Any) -> dict[str, str]:
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWK set")
    pems = {}
    for jwk in keys:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            pem = _pem(jwk)
            if pem is not None:
                pems[jwk["kid"]] = pem
    return pems


_CACHE = KeyCache(_parse, "IAP's public keys")


def _key_id(token: str) -> str:
    try:
        header = jwt.decode_header(token)
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise Unauthorized("the IAP assertion is not a JWT") from exc
    # Checked before any key is looked at: `none`, HS256 (an HMAC keyed with a public
    # key) or RS256 must never get as far as a verifier.
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"the IAP assertion is signed with {header.get('alg')!r}, not ES256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("the IAP assertion names no key")
    return kid


def _claims(token: str, kid: str, certs_url: str) -> Mapping[str, Any]:
    keys = _CACHE.get(certs_url)
    if kid not in keys:
        keys = _CACHE.get(certs_url, refresh=True)
    if kid not in keys:
        raise Unauthorized(f"the IAP assertion names an unknown key {kid!r}")
    try:
        # Only the named key: jwt.decode would try every key of a mapping without it.
        claims: Mapping[str, Any] = jwt.decode(
            token, certs=keys[kid], audience=None, clock_skew_in_seconds=CLOCK_SKEW_SECONDS
        )
    except (ValueError, TypeError, auth_exceptions.GoogleAuthError) as exc:
        raise Unauthorized(f"the IAP assertion was rejected: {exc}") from exc
    return claims


def verify_iap_assertion(token: str, *, audience: str, certs_url: str) -> Person:
    """The person an IAP assertion names, once its signature, issuer, audience and
    lifetime hold."""
    if not audience:
        raise Unauthorized("no IAP audience is configured (ASSAY_IAP_AUDIENCE): nobody is let in")
    claims = _claims(token, _key_id(token), certs_url)
    if claims.get("iss") != IAP_ISSUER:
        raise Unauthorized(f"the IAP assertion's issuer {claims.get('iss')!r} is not IAP")
    if claims.get("aud") != audience:
        raise Unauthorized(
            f"the IAP assertion's audience {claims.get('aud')!r} is not this console ({audience!r})"
        )
    email, subject = claims.get("email"), claims.get("sub")
    if not isinstance(email, str) or "@" not in email:
        raise Unauthorized("the IAP assertion names no email")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the IAP assertion names no subject")
    return Person(email=email.strip().lower(), subject=subject)


def _assertion(headers: Mapping[str, str]) -> str | None:
    value = headers.get(ASSERTION_HEADER)
    if value is None:
        # A plain dict is case-sensitive; werkzeug's headers are not.
        value = next((v for k, v in headers.items() if k.lower() == ASSERTION_HEADER), None)
    return value.strip() if value else None


def person_from_headers(
    headers: Mapping[str, str], *, audience: str | None = None, certs_url: str | None = None
) -> Person:
    """The signed-in person of a request that came through IAP: from its signed
    assertion only (audience and keys from the settings unless given)."""
    token = _assertion(headers)
    if not token:
        raise Unauthorized(
            f"the console is reached through Identity-Aware Proxy ({ASSERTION_HEADER})"
        )
    if audience is None or certs_url is None:
        settings = get_settings()
        audience = settings.iap_audience if audience is None else audience
        certs_url = settings.iap_certs_url if certs_url is None else certs_url
    return verify_iap_assertion(token, audience=audience, certs_url=certs_url)
