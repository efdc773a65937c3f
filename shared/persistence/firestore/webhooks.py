"""Webhooks in Firestore: `webhooks/{id}`, each with its attempts in a subcollection
`webhooks/{id}/deliveries/{attempt id}` (deleted with it)."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.webhooks import DeliveryAttempt, Webhook
from shared.persistence.firestore.documents import Collections, from_snapshot, to_doc
from shared.platform.ids import is_doc_id

WEBHOOKS = "webhooks"
DELIVERIES = "deliveries"


class FirestoreWebhooks(Collections):
    def _deliveries(self, webhook_id: str) -> Any:
        return self.db.collection(WEBHOOKS).document(webhook_id).collection(DELIVERIES)

    def create(self, hook: Webhook) -> None:
        self.db.collection(WEBHOOKS).document(hook.id).create(to_doc(hook))

    def find(self, org_id: str, webhook_id: str) -> Webhook | None:
        if not is_doc_id(webhook_id):
            return None
        snap = self.db.collection(WEBHOOKS).document(webhook_id).get()
        if not snap.exists or snap.get("org_id") != org_id:
            return None
        return from_snapshot(Webhook, snap)

    def all(self, org_id: str) -> list[Webhook]:
        query = self.db.collection(WEBHOOKS).where(filter=FieldFilter("org_id", "==", org_id))
        hooks = [from_snapshot(Webhook, s) for s in query.stream()]
        return sorted(hooks, key=lambda h: (h.created_at, h.id))

    def save(self, hook: Webhook) -> None:
        self.db.collection(WEBHOOKS).document(hook.id).set(to_doc(hook))

    def delete(self, org_id: str, webhook_id: str) -> bool:
        if self.find(org_id, webhook_id) is None:
            return False
        # The webhook and every attempt under it, in bulk (a busy webhook keeps a month's).
        self.db.recursive_delete(self.db.collection(WEBHOOKS).document(webhook_id))
        return True

    def claim_attempt(self, attempt: DeliveryAttempt) -> bool:
        try:
            self._deliveries(attempt.webhook_id).document(attempt.id).create(to_doc(attempt))
        except gexc.Conflict:
            return False
        return True

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        self._deliveries(attempt.webhook_id).document(attempt.id).set(to_doc(attempt))

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        query = (
            self._deliveries(webhook_id)
            .where(filter=FieldFilter("event_id", "==", event_id))
            .where(filter=FieldFilter("delivered", "==", True))
        )
        return any(True for _ in query.limit(1).stream())

    def attempts(self, org_id: str, webhook_id: str, limit: int) -> list[DeliveryAttempt]:
        if self.find(org_id, webhook_id) is None:
            return []
        query = self._deliveries(webhook_id).order_by("at", direction=firestore.Query.DESCENDING)
        return [from_snapshot(DeliveryAttempt, s) for s in query.limit(limit).stream()]
