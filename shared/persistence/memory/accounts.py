"""Organizations, projects and API keys in memory."""

from __future__ import annotations

from datetime import datetime

from shared.domain.models import ApiKey, Organization, Project
from shared.persistence.memory import reads
from shared.persistence.memory.store import (
    API_KEYS,
    ORGS,
    PROJECTS,
    Store,
    Stored,
    copy_out,
    create,
    fields,
    put,
    update,
)
from shared.platform.errors import NotFound


class MemoryOrgs:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def create(self, org: Organization) -> None:
        self._store.commit([create(ORGS, org.id, org)])

    def get(self, org_id: str) -> Organization | None:
        if not org_id or "/" in org_id:
            return None
        return reads.find(self._reader, ORGS, org_id, Organization)

    def create_project(self, project: Project) -> None:
        self._store.commit([create(PROJECTS, project.id, project)])

    def get_project(self, org_id: str, project_id: str) -> Project:
        return reads.owned(self._reader, PROJECTS, Project, org_id, project_id, "project")


class MemoryKeys:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def create(self, key: ApiKey) -> None:
        self._store.commit([create(API_KEYS, key.id, key)])

    def get(self, key_id: str) -> ApiKey | None:
        if not key_id or "/" in key_id:
            return None
        return reads.find(self._reader, API_KEYS, key_id, ApiKey)

    def save(self, key: ApiKey) -> None:
        self._store.commit([put(API_KEYS, key.id, key)])

    def all(self, org_id: str) -> list[ApiKey]:
        """Oldest first (ties by id, the order Firestore's query gave them)."""
        keys = [k for k, _ in self._store.models(API_KEYS, ApiKey) if k.org_id == org_id]
        return [k.model_copy(deep=True) for k in sorted(keys, key=lambda k: k.created_at)]

    def touch(self, key_id: str, at: datetime) -> None:
        self._store.commit([update(API_KEYS, key_id, fields(last_used_at=at))])

    def revoke(self, org_id: str, key_id: str, at: datetime) -> ApiKey:
        """The first revocation's time stands; another org's key is NotFound."""
        with self._store.lock:
            stored: Stored | None = self._store.get(API_KEYS, key_id)
            key = None if stored is None else copy_out(stored, ApiKey)
            if key is None or key.org_id != org_id:
                raise NotFound(f"API key {key_id!r} not found")
            if key.revoked_at is None:
                key.revoked_at = at
                self._store.commit([update(API_KEYS, key_id, fields(revoked_at=at))])
            return key
