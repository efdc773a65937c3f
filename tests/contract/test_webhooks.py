"""Webhooks and their delivery attempts (shared/persistence/ports.py Webhooks): one org's
only, saved whole, deleted with their attempts; an attempt is claimed once; the latest
attempts come first; a delivery counts once an attempt of that event got its 2xx."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.webhooks import DeliveryAttempt, EventType, Webhook, WebhookSecret
from shared.platform.ids import new_id
from tests.contract.builders import at

pytestmark = pytest.mark.contract


def hook(org_id: str, minutes: float = 0) -> Webhook:
    return Webhook(
        id=new_id(),
        org_id=org_id,
        url="https://hooks.example.com/in",
        events=[EventType.RUN_COMPLETED],
        created_at=at(minutes),
        created_by="key:k1",
        secrets=[WebhookSecret(value="whsec_x", created_at=at(minutes))],
    )


def attempt(made: Webhook, event: str, number: int, **result: Any) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=f"{event}-{number}",
        org_id=made.org_id,
        webhook_id=made.id,
        event_id=event,
        event_type=EventType.RUN_COMPLETED,
        attempt=number,
        at=at(number),
        **result,
    )


def test_webhooks_are_one_orgs_and_saved_whole(backend: Any) -> None:
    store = backend.webhooks
    first, second, other = hook("org-a", 1), hook("org-a", 2), hook("org-b")
    for made in (second, first, other):
        store.create(made)
    assert [h.id for h in store.all("org-a")] == [first.id, second.id]
    assert store.find("org-b", first.id) is None and store.find("org-a", "nope") is None
    rotated = first.rotated("whsec_new", at(5))
    store.save(rotated)
    assert store.find("org-a", first.id) == rotated
    assert backend.webhooks.find("org-a", first.id) == rotated  # the same store again


def test_an_attempt_is_claimed_once_and_listed_newest_first(backend: Any) -> None:
    store = backend.webhooks
    made = hook("org-a")
    store.create(made)
    assert store.claim_attempt(attempt(made, "evt1", 1))
    assert not store.claim_attempt(attempt(made, "evt1", 1))
    store.record_attempt(attempt(made, "evt1", 1, status_code=500, excerpt="no"))
    assert not store.delivered(made.id, "evt1")
    assert store.claim_attempt(attempt(made, "evt1", 2))
    store.record_attempt(attempt(made, "evt1", 2, status_code=200, delivered=True))
    assert store.delivered(made.id, "evt1") and not store.delivered(made.id, "evt2")
    listed = store.attempts("org-a", made.id, 10)
    assert [(a.attempt, a.status_code) for a in listed] == [(2, 200), (1, 500)]
    assert [a.attempt for a in store.attempts("org-a", made.id, 1)] == [2]
    assert store.attempts("org-b", made.id, 10) == []


def test_deleting_a_webhook_deletes_its_attempts(backend: Any) -> None:
    store = backend.webhooks
    made = hook("org-a")
    store.create(made)
    store.claim_attempt(attempt(made, "evt1", 1))
    assert not store.delete("org-b", made.id)
    assert store.delete("org-a", made.id)
    assert not store.delete("org-a", made.id)
    assert store.find("org-a", made.id) is None and not store.delivered(made.id, "evt1")
    store.create(made)  # a webhook of that id again starts with no attempts
    assert store.attempts("org-a", made.id, 10) == []
