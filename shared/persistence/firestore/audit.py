"""The audit log: one document per change, keyed by the entry's id (deterministic where
the change allows, so a retried request lands on the same document), listed newest
first a page at a time."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.enums import AuditAction
from shared.domain.models import AuditEntry
from shared.persistence.firestore.documents import AUDIT_LOG, Collections, to_doc
from shared.persistence.ports import Page


class FirestoreAudit(Collections):
    def append(self, entry: AuditEntry) -> bool:
        try:
            self.db.collection(AUDIT_LOG).document(entry.id).create(to_doc(entry))
        except gexc.Conflict:
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
        query = self.db.collection(AUDIT_LOG).where(filter=FieldFilter("org_id", "==", org_id))
        if action is not None:
            query = query.where(filter=FieldFilter("action", "==", action.value))
        query = query.order_by("at", direction=firestore.Query.DESCENDING).order_by(
            "__name__", direction=firestore.Query.DESCENDING
        )
        query = self.after(query, AUDIT_LOG, org_id, page_token)
        return self.paged(AuditEntry, list(query.limit(limit + 1).stream()), limit)
