"""Status badges in Firestore: `badges/{token}` is the badge, what a public request
reads by key (one read, no query), and `workflow_badges/{(org, slug)}` names the
workflow's one badge, so two concurrent turn-ons collide on create. Both are written
and deleted together."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from shared.domain.badges import Badge, is_token
from shared.persistence.firestore.documents import Collections, to_doc, transactional
from shared.platform.ids import stable_id

BADGES = "badges"
WORKFLOW_BADGES = "workflow_badges"


def _owner_id(org_id: str, slug: str) -> str:
    return stable_id(org_id, "badge", slug)


class FirestoreBadges(Collections):
    def _badge(self, token: str) -> Any:
        return self.db.collection(BADGES).document(token)

    def _owner(self, org_id: str, slug: str) -> Any:
        return self.db.collection(WORKFLOW_BADGES).document(_owner_id(org_id, slug))

    def find(self, token: str) -> Badge | None:
        if not is_token(token):
            return None
        snap = self._badge(token).get()
        return Badge.model_validate(snap.to_dict()) if snap.exists else None

    def of_workflow(self, org_id: str, slug: str) -> Badge | None:
        snap = self._owner(org_id, slug).get()
        if not snap.exists:
            return None
        return self.find(str(snap.get("token")))

    def enable(self, badge: Badge) -> tuple[Badge, bool]:
        batch = self.db.batch()
        owner = {"org_id": badge.org_id, "workflow_slug": badge.workflow_slug}
        batch.create(self._owner(badge.org_id, badge.workflow_slug), owner | {"token": badge.token})
        batch.create(self._badge(badge.token), to_doc(badge))
        try:
            batch.commit()
        except gexc.Conflict:
            standing = self.of_workflow(badge.org_id, badge.workflow_slug)
            if standing is None:  # turned off meanwhile: try once more
                return self.enable(badge)
            return standing, False
        return badge, True

    def disable(self, org_id: str, slug: str) -> Badge | None:
        owner = self._owner(org_id, slug)

        def remove(transaction: Any) -> Badge | None:
            snap = owner.get(transaction=transaction)
            if not snap.exists:
                return None
            badge = self._badge(str(snap.get("token")))
            found = badge.get(transaction=transaction)
            transaction.delete(owner)
            transaction.delete(badge)
            return Badge.model_validate(found.to_dict()) if found.exists else None

        return transactional(self.db, remove)
