"""Per-key rate limits through the API: over the limit is a 429 with Retry-After, other
keys are unaffected, and the bucket refills with time. No Firestore write counts it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api.auth import rate_limit
from shared.api.auth.api_keys import issue_key


@pytest.fixture
def limited(api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ASSAY_RATE_LIMIT_PER_MINUTE", "60")
    monkeypatch.setenv("ASSAY_RATE_LIMIT_BURST", "5")
    from shared import wiring

    wiring.reset()
    clock = [1000.0]
    monkeypatch.setattr(rate_limit.time, "monotonic", lambda: clock[0])
    return api, clock


def test_over_the_limit_is_a_429_with_retry_after(limited: Any) -> None:
    api, clock = limited
    path = f"/v1/orgs/{api.org}/runs"
    assert [api.get(path).status_code for _ in range(5)] == [200] * 5
    refused = api.get(path)
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"
    assert (
        refused.headers["Retry-After"] == "1" and "rate limit of 60" in refused.get_json()["detail"]
    )

    _, other = issue_key(api.repos, api.org, "other")
    assert api.client.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 200

    clock[0] += 1.0  # one second refills one request at 60 a minute
    assert api.get(path).status_code == 200
    assert api.get(path).status_code == 429


@pytest.mark.firestore
def test_counting_writes_nothing(limited: Any) -> None:
    api, _ = limited
    path = f"/v1/orgs/{api.org}/runs"
    api.get(path)
    keys = api.repos.db.collection("api_keys")
    before = {d.id: d.update_time for d in keys.stream()}
    for _ in range(4):
        api.get(path)
    assert {d.id: d.update_time for d in keys.stream()} == before
