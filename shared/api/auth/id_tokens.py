"""Verification of Google-signed ID tokens in code (IAM checks them too, in the cloud).

Checks the signature against the certificates at a configured URL (Google's by default;
the local metadata server's locally), the issuer, the audience, the expiry,
`email_verified`, and that the caller is on the function's allow-list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from shared.api.auth.key_cache import KeyCache
from shared.platform.errors import Forbidden, Unauthorized

GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
CLOCK_SKEW_SECONDS = 10


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str
    claims: Mapping[str, Any]


def new_cache() -> KeyCache:
    return KeyCache(dict, "token signing certificates")


_CACHE = new_cache()


def _key_id(token: str) -> str | None:
    try:
        header = jwt.decode_header(token)
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise Unauthorized("the bearer token is not a JWT") from exc
    kid = header.get("kid")
    return str(kid) if kid else None


def own_service_audience() -> re.Pattern[str] | None:
    """This Cloud Run service's own URL, `https://SERVICE-HASH-REGION.a.run.app`.

    Eventarc mints its tokens for the destination service's URL, which a function cannot
    be told in its own environment (Terraform would need the function's URL to create
    the function). So a function that Eventarc calls also accepts that URL shape for its
    own service name (K_SERVICE, set by Cloud Run) — never another service's.
    """
    service = os.environ.get("K_SERVICE")
    if not service:
        return None
    return re.compile(rf"https://{re.escape(service)}-[a-z0-9]+-[a-z]{{2,4}}\.a\.run\.app/?")


def _check_audience(
    claims: Mapping[str, Any], audience: str, pattern: re.Pattern[str] | None
) -> None:
    aud = claims.get("aud")
    if aud == audience or (pattern is not None and isinstance(aud, str) and pattern.fullmatch(aud)):
        return
    raise Unauthorized(f"the ID token's audience {aud!r} is not this function ({audience!r})")


def verify_id_token(
    token: str,
    *,
    audience: str,
    allowed_emails: Collection[str],
    certs_url: str,
    audience_pattern: re.Pattern[str] | None = None,
) -> Caller:
    kid = _key_id(token)
    certs = _CACHE.get(certs_url)
    if kid and kid not in certs:
        certs = _CACHE.get(certs_url, refresh=True)
    try:
        # The audience is checked below, where the Eventarc shape can be allowed too.
        claims = jwt.decode(
            token, certs=certs, audience=None, clock_skew_in_seconds=CLOCK_SKEW_SECONDS
        )
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise Unauthorized(f"the ID token was rejected: {exc}") from exc
    _check_audience(claims, audience, audience_pattern)
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthorized(f"the ID token's issuer {claims.get('iss')!r} is not Google")
    if claims.get("email_verified") is not True:
        raise Unauthorized("the ID token's email is not verified")
    email = claims.get("email")
    if not isinstance(email, str) or email not in allowed_emails:
        raise Forbidden(f"{email!r} may not call this function")
    return Caller(email=email, subject=str(claims.get("sub", "")), claims=claims)


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("this function needs a Google ID token: 'Authorization: Bearer <token>'")
    return token.strip()


def verify_caller(
    authorization: str | None,
    *,
    audience: str,
    allowed: Collection[str],
    audience_pattern: re.Pattern[str] | None = None,
) -> Caller:
    """The checks every private function makes: a Google ID token for `audience` from
    one of `allowed`, verified against the configured certificates."""
    from shared.platform.config import get_settings

    return verify_id_token(
        bearer_token(authorization),
        audience=audience,
        allowed_emails=allowed,
        certs_url=get_settings().certs_url,
        audience_pattern=audience_pattern,
    )
