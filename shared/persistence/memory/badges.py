"""Status badges in memory: keyed by token, with the workflow's pointer to its one
badge, as Firestore keeps them."""

from __future__ import annotations

from shared.domain.badges import Badge, is_token
from shared.domain.models import Model
from shared.persistence.memory.store import Store, create, delete
from shared.platform.errors import AlreadyExists
from shared.platform.ids import stable_id

# As shared/persistence/firestore/badges.py names them.
BADGES = "badges"
WORKFLOW_BADGES = "workflow_badges"


class Owner(Model):
    org_id: str
    workflow_slug: str
    token: str


def _owner_id(org_id: str, slug: str) -> str:
    return stable_id(org_id, "badge", slug)


class MemoryBadges:
    def __init__(self, store: Store) -> None:
        self._store = store

    def find(self, token: str) -> Badge | None:
        found = self._store.get(BADGES, token) if is_token(token) else None
        if found is None:
            return None
        assert isinstance(found.model, Badge)
        return found.model.model_copy(deep=True)

    def of_workflow(self, org_id: str, slug: str) -> Badge | None:
        owner = self._store.get(WORKFLOW_BADGES, _owner_id(org_id, slug))
        if owner is None:
            return None
        assert isinstance(owner.model, Owner)
        return self.find(owner.model.token)

    def enable(self, badge: Badge) -> tuple[Badge, bool]:
        owner = Owner(org_id=badge.org_id, workflow_slug=badge.workflow_slug, token=badge.token)
        with self._store.lock:
            try:
                self._store.commit(
                    [
                        create(
                            WORKFLOW_BADGES, _owner_id(badge.org_id, badge.workflow_slug), owner
                        ),
                        create(BADGES, badge.token, badge),
                    ]
                )
            except AlreadyExists:
                standing = self.of_workflow(badge.org_id, badge.workflow_slug)
                assert standing is not None  # under the lock, nothing turned it off
                return standing, False
        return badge.model_copy(deep=True), True

    def disable(self, org_id: str, slug: str) -> Badge | None:
        key = _owner_id(org_id, slug)
        with self._store.lock:
            found = self.of_workflow(org_id, slug)
            owner = self._store.get(WORKFLOW_BADGES, key)
            if owner is None:
                return None
            assert isinstance(owner.model, Owner)
            self._store.commit([delete(WORKFLOW_BADGES, key), delete(BADGES, owner.model.token)])
        return found
