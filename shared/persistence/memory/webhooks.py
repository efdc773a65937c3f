"""Webhooks in memory, as shared/persistence/firestore/webhooks.py keeps them."""

from __future__ import annotations

import threading

from shared.domain.webhooks import DeliveryAttempt, Webhook


class MemoryWebhooks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[str, Webhook] = {}
        self._attempts: dict[str, dict[str, DeliveryAttempt]] = {}

    def create(self, hook: Webhook) -> None:
        with self._lock:
            self._hooks[hook.id] = hook.model_copy(deep=True)
            self._attempts.setdefault(hook.id, {})

    def find(self, org_id: str, webhook_id: str) -> Webhook | None:
        with self._lock:
            hook = self._hooks.get(webhook_id)
        return hook.model_copy(deep=True) if hook and hook.org_id == org_id else None

    def all(self, org_id: str) -> list[Webhook]:
        with self._lock:
            hooks = [h.model_copy(deep=True) for h in self._hooks.values() if h.org_id == org_id]
        return sorted(hooks, key=lambda h: (h.created_at, h.id))

    def save(self, hook: Webhook) -> None:
        self.create(hook)

    def delete(self, org_id: str, webhook_id: str) -> bool:
        with self._lock:
            hook = self._hooks.get(webhook_id)
            if hook is None or hook.org_id != org_id:
                return False
            del self._hooks[webhook_id]
            self._attempts.pop(webhook_id, None)
            return True

    def claim_attempt(self, attempt: DeliveryAttempt) -> bool:
        with self._lock:
            kept = self._attempts.setdefault(attempt.webhook_id, {})
            if attempt.id in kept:
                return False
            kept[attempt.id] = attempt.model_copy()
            return True

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        with self._lock:
            self._attempts.setdefault(attempt.webhook_id, {})[attempt.id] = attempt.model_copy()

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        with self._lock:
            kept = list(self._attempts.get(webhook_id, {}).values())
        return any(a.event_id == event_id and a.delivered for a in kept)

    def attempts(self, org_id: str, webhook_id: str, limit: int) -> list[DeliveryAttempt]:
        if self.find(org_id, webhook_id) is None:
            return []
        with self._lock:
            kept = list(self._attempts.get(webhook_id, {}).values())
        return sorted(kept, key=lambda a: (a.at, a.id), reverse=True)[:limit]
