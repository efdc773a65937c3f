"""Organizations, their projects, and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import ApiKey, Organization, Project
from shared.persistence.firestore.documents import (
    API_KEYS,
    ORGS,
    PROJECTS,
    Collections,
    from_snapshot,
    to_doc,
    transactional,
    translated,
)
from shared.platform.errors import NotFound


class FirestoreOrgs(Collections):
    def create(self, org: Organization) -> None:
        with translated():
            self.db.collection(ORGS).document(org.id).create(to_doc(org))

    def get(self, org_id: str) -> Organization | None:
        if not org_id or "/" in org_id:
            return None
        snap = self.db.collection(ORGS).document(org_id).get()
        return from_snapshot(Organization, snap) if snap.exists else None

    def create_project(self, project: Project) -> None:
        with translated():
            self.db.collection(PROJECTS).document(project.id).create(to_doc(project))

    def get_project(self, org_id: str, project_id: str) -> Project:
        return self.owned(PROJECTS, Project, org_id, project_id, "project")


class FirestoreKeys(Collections):
    def create(self, key: ApiKey) -> None:
        with translated():
            self.db.collection(API_KEYS).document(key.id).create(to_doc(key))

    def get(self, key_id: str) -> ApiKey | None:
        if not key_id or "/" in key_id:
            return None
        snap = self.db.collection(API_KEYS).document(key_id).get()
        return from_snapshot(ApiKey, snap) if snap.exists else None

    def save(self, key: ApiKey) -> None:
        self.db.collection(API_KEYS).document(key.id).set(to_doc(key))

    def all(self, org_id: str) -> list[ApiKey]:
        query = self.db.collection(API_KEYS).where(filter=FieldFilter("org_id", "==", org_id))
        keys = [from_snapshot(ApiKey, snap) for snap in query.stream()]
        return sorted(keys, key=lambda k: k.created_at)

    def touch(self, key_id: str, at: datetime) -> None:
        with translated():
            self.db.collection(API_KEYS).document(key_id).update({"last_used_at": at})

    def revoke(self, org_id: str, key_id: str, at: datetime) -> ApiKey:
        """Revokes the key (the first revocation's time stands). Another org's key is a 404."""
        ref = self.db.collection(API_KEYS).document(key_id)

        def revoke(transaction: Any) -> ApiKey:
            snap = ref.get(transaction=transaction)
            if not snap.exists or snap.get("org_id") != org_id:
                raise NotFound(f"API key {key_id!r} not found")
            key = from_snapshot(ApiKey, snap)
            if key.revoked_at is None:
                key.revoked_at = at
                transaction.update(ref, {"revoked_at": at})
            return key

        return transactional(self.db, revoke)
