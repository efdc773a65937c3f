"""The API key lifecycle against the Firestore emulator, through the API's own
authentication: last use recorded at most once a minute, revocation and expiry
effective on the next request, malformed keys a 401 before any Firestore read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.api.auth.api_keys import authenticate, issue_key, list_keys, revoke_key
from shared.platform.errors import NotFound, Unauthorized


def _header(key: str) -> str:
    return f"Bearer {key}"


@pytest.mark.firestore
def test_last_use_is_written_at_most_once_a_minute(api: Any) -> None:
    record, key = issue_key(api.repos, api.org, "ci")
    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    authenticate(api.repos, _header(key), now=lambda: start)
    ref = api.repos.document("api_keys", record.id)
    first = ref.get()
    assert first.get("last_used_at") == start
    for seconds in (1, 30, 59):
        authenticate(api.repos, _header(key), now=lambda s=seconds: start + timedelta(seconds=s))
    again = ref.get()
    assert again.update_time == first.update_time  # no write for these three requests
    authenticate(api.repos, _header(key), now=lambda: start + timedelta(seconds=61))
    assert ref.get().get("last_used_at") == start + timedelta(seconds=61)


def test_a_revoked_key_is_refused_on_the_next_request(api: Any) -> None:
    record, key = issue_key(api.repos, api.org, "leaked")
    assert (
        api.client.get(
            f"/v1/orgs/{api.org}/runs", headers={"Authorization": _header(key)}
        ).status_code
        == 200
    )
    revoked = revoke_key(api.repos, api.org, record.id)
    assert revoked.revoked_at is not None
    answer = api.client.get(f"/v1/orgs/{api.org}/runs", headers={"Authorization": _header(key)})
    assert answer.status_code == 401 and "revoked" in answer.get_json()["detail"]
    # Revoking again keeps the first time; another org cannot revoke it, nor see it.
    assert revoke_key(api.repos, api.org, record.id).revoked_at == revoked.revoked_at
    from tests.factories import make_org

    other, _ = make_org(api.repos, "other")
    with pytest.raises(NotFound):
        revoke_key(api.repos, other, record.id)
    assert record.id not in {k.id for k in list_keys(api.repos, other)}


def test_an_expired_key_is_refused(api: Any) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    _, key = issue_key(api.repos, api.org, "short", expires_at=soon)
    assert authenticate(api.repos, _header(key)).name == "short"
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(api.repos, _header(key), now=lambda: soon + timedelta(milliseconds=1))


def test_listing_shows_prefixes_and_never_a_secret(api: Any) -> None:
    record, key = issue_key(api.repos, api.org, "listed")
    keys = list_keys(api.repos, api.org)
    listed = next(k for k in keys if k.id == record.id)
    assert key.startswith(listed.prefix) and listed.prefix == f"assay_{record.id}_"
    # The secret is all after the prefix: it is URL-safe base64, so it may hold "_" too
    # (splitting at the last one left a few characters that a listing could hold by chance).
    secret = key.removeprefix(listed.prefix)
    assert len(secret) >= 32
    assert all(secret not in str(k.model_dump()) for k in keys)


@pytest.mark.parametrize(
    "token",
    [
        "assay_._x",
        "assay_.._x",
        "assay___x___secret",
        "assay_" + "a" * 1500 + "_secret",
        "assay_abc/def_secret",
        "assay__secret",
    ],
)
def test_a_key_shaped_header_with_a_reserved_or_bad_id_is_a_401(api: Any, token: str) -> None:
    answer = api.client.get(
        f"/v1/orgs/{api.org}/runs", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401
    assert answer.content_type == "application/problem+json"
    assert "malformed" in answer.get_json()["detail"]
