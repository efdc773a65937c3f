"""The audit log in memory: appended once per id, listed newest first (ties by id,
descending) a page at a time, as Firestore lists it."""

from __future__ import annotations

from datetime import datetime

from shared.domain.enums import AuditAction
from shared.domain.models import AuditEntry
from shared.persistence.memory.pages import page_of, token_doc
from shared.persistence.memory.store import Store, create
from shared.persistence.ports import Page
from shared.platform.errors import AlreadyExists

# As shared/persistence/firestore/documents.py names it.
AUDIT_LOG = "audit_log"


def _newest_first(entry: AuditEntry) -> tuple[datetime, str]:
    return entry.at, entry.id


class MemoryAudit:
    def __init__(self, store: Store) -> None:
        self._store = store

    def append(self, entry: AuditEntry) -> bool:
        try:
            self._store.commit([create(AUDIT_LOG, entry.id, entry)])
        except AlreadyExists:
            return False
        return True

    def page(
        self,
        org_id: str,
        *,
        action: AuditAction | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> Page[AuditEntry]:
        with self._store.lock:
            after = token_doc(self._store, AUDIT_LOG, org_id, page_token) if page_token else None
            entries = [
                e
                for e, _ in self._store.models(AUDIT_LOG, AuditEntry)
                if e.org_id == org_id and (action is None or e.action == action)
            ]
        entries.sort(key=_newest_first, reverse=True)
        return page_of(entries, _newest_first, limit, after, descending=True)
