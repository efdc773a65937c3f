"""Webhooks and their delivery attempts (decision record 0087): the port, and the one
implementation for a set of repositories (Firestore's over its client, or the memory
twin's own). Kept beside `ports.Repositories` rather than in it while issue #24's parts
land; `webhooks_of` is what the services call."""

from __future__ import annotations

from typing import Any, Protocol

from shared.domain.webhooks import DeliveryAttempt, Webhook


class Webhooks(Protocol):
    def create(self, hook: Webhook) -> None: ...
    def find(self, org_id: str, webhook_id: str) -> Webhook | None:
        """None for a missing webhook and for another org's."""

    def all(self, org_id: str) -> list[Webhook]:
        """The org's webhooks, oldest first."""

    def save(self, hook: Webhook) -> None: ...
    def delete(self, org_id: str, webhook_id: str) -> bool:
        """Whether there was one to delete (its attempts go with it)."""

    def claim_attempt(self, attempt: DeliveryAttempt) -> bool:
        """Creates the attempt's record; False when one of its id exists (a duplicate
        dispatch of the same try)."""

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Writes what a claimed attempt came to."""

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        """Whether an attempt of this event at this webhook got a 2xx."""

    def attempts(self, org_id: str, webhook_id: str, limit: int) -> list[DeliveryAttempt]:
        """The webhook's latest attempts, newest first."""


def webhooks_of(repos: Any) -> Webhooks:
    """The webhooks repository beside `repos`: Firestore's on its client, else the
    memory twin kept on the twin itself (so every caller of one twin shares it)."""
    db = getattr(repos, "db", None)
    if db is not None:
        from shared.persistence.firestore.webhooks import FirestoreWebhooks

        return FirestoreWebhooks(db)
    twin = getattr(repos, "_webhooks_twin", None)
    if twin is None:
        from shared.persistence.memory.webhooks import MemoryWebhooks

        twin = MemoryWebhooks()
        repos._webhooks_twin = twin
    return twin
