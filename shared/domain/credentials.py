"""A run's signed credential and the public keys that verify credentials (decision
record 0086).

A credential is issued once per run and kept as issued; every key that ever signed one
is kept with it, as a public JWK, and published for ever at /.well-known/jwks.json, so
a credential stays verifiable after Google rotates the signer's keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.models import Model


class IssuedCredential(Model):
    """A run's credential as issued: the compact JWS, and the key that signed it."""

    run_id: str
    org_id: str
    jws: str
    kid: str
    issued_at: datetime


class SigningKey(Model):
    """A public key that signed at least one credential, kept from its first signature
    on (Google's x509 endpoint stops listing a key some time after it rotates)."""

    kid: str
    signer: str  # the service account whose key it is
    jwk: dict[str, Any]  # RFC 7517: kty, n, e, kid, alg, use (and x5c)
    first_used_at: datetime
