"""Org API keys: `assay_<key id>_<secret>`. Only the SHA-256 of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from shared.domain.enums import AuditAction, Role
from shared.domain.models import ApiKey
from shared.persistence.ports import Repositories
from shared.platform.clock import Clock, utcnow
from shared.platform.errors import NotFound, Unauthorized
from shared.platform.ids import is_new_id, new_id
from shared.services import audit, orgs

log = logging.getLogger(__name__)

PREFIX = "assay"
# `last_used_at` is written at most this often per key: no Firestore write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(
    repos: Repositories,
    org_id: str,
    name: str,
    *,
    expires_at: datetime | None = None,
    role: Role = Role.ADMIN,
    now: Clock = utcnow,
    by: audit.By | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key with `role` (admin, as every key was before roles) and returns it
    with the plaintext, which is never stored. The audit log records who (an operator
    at the command line unless `by` says otherwise)."""
    orgs.require(repos, org_id)
    by = by or audit.By.operator("cli: assay admin create-key")
    key_id = new_id()
    secret = secrets.token_urlsafe(32)
    record = ApiKey(
        id=key_id,
        org_id=org_id,
        name=name,
        secret_sha256=_digest(secret),
        created_at=now(),
        expires_at=expires_at,
        role=role,
    )
    repos.keys.create(record)
    audit.record(
        repos,
        org_id,
        by.actor,
        AuditAction.KEY_CREATED,
        f"key:{key_id}",
        by.route,
        {"role": role.value},
        record.created_at,
        once_per=(key_id,),
    )
    return record, f"{PREFIX}_{key_id}_{secret}"


def authenticate(repos: Repositories, authorization: str | None, now: Clock = utcnow) -> ApiKey:
    """The key behind an `Authorization: Bearer` header, or Unauthorized saying why."""
    if not authorization:
        raise Unauthorized("this endpoint needs an org API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    prefix, _, rest = token.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not is_new_id(key_id) or not secret:
        raise Unauthorized("the API key is malformed: expected 'assay_<id>_<secret>'")
    record = repos.keys.get(key_id)
    if record is None or not hmac.compare_digest(record.secret_sha256, _digest(secret)):
        raise Unauthorized("the API key is not valid")
    if record.revoked_at is not None:
        raise Unauthorized("the API key has been revoked")
    at = now()
    if record.expires_at is not None and record.expires_at <= at:
        raise Unauthorized("the API key has expired")
    if record.last_used_at is None or at - record.last_used_at >= LAST_USED_RESOLUTION:
        _touch(repos, record, at)
    return record


def _touch(repos: Repositories, record: ApiKey, at: datetime) -> None:
    """Best effort: a failed bookkeeping write must not fail the request."""
    try:
        repos.keys.touch(record.id, at)
        record.last_used_at = at
    except Exception:
        log.warning("could not record the key's last use", exc_info=True)


def list_keys(repos: Repositories, org_id: str) -> list[ApiKey]:
    orgs.require(repos, org_id)
    return repos.keys.all(org_id)


def revoke_key(
    repos: Repositories,
    org_id: str,
    key_id: str,
    now: Clock = utcnow,
    *,
    by: audit.By | None = None,
) -> ApiKey:
    """Revokes the key; the audit log records the first revocation (a repeat is the
    same entry)."""
    if not is_new_id(key_id):
        raise NotFound(f"API key {key_id!r} not found")
    key = repos.keys.revoke(org_id, key_id, now())
    by = by or audit.By.operator("cli: assay admin revoke-key")
    target, action = f"key:{key_id}", AuditAction.KEY_REVOKED
    audit.record(
        repos, org_id, by.actor, action, target, by.route, at=key.revoked_at, once_per=(key_id,)
    )
    return key
