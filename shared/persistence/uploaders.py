"""Who may put objects in an org's upload folder, as Firestore keeps it (decision record
0025): the signed-URL grants the api made (`upload_url_grants`, one per upload id,
deleted by Firestore's TTL on `expire_at`) and each org's uploaders (`uploaders`, one
per org and member; the bucket's IAM policy holds the same list, enforced)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import Model, UploadEvent
from shared.persistence.repositories import UPLOAD_EVENTS, UPLOAD_GRANTS, to_doc
from shared.persistence.unit_of_work import Batch
from shared.platform.ids import stable_id

UPLOAD_URL_GRANTS = "upload_url_grants"
UPLOADERS = "uploaders"


class UploadGrant(Model):
    """A signed upload URL the api made: the one object it vouches for, and for whom."""

    id: str  # the upload id, the object name's third segment
    org_id: str
    workflow_slug: str
    filename: str
    object_name: str
    api_key_id: str
    created_at: datetime
    # When the URL stops working; Firestore's TTL deletes the record at expire_at.
    expires_at: datetime
    expire_at: datetime


class Uploader(Model):
    """A Google identity that may write `{org}/…` objects in the uploads bucket itself."""

    org_id: str
    member: str  # `serviceAccount:…`, `user:…`, `group:…` or `domain:…`
    created_at: datetime


class UploadAccess:
    """`Repositories.uploads`: services say what they want of these records; the
    documents and queries stay here."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def record_accepted(self, batch: Batch, event: UploadEvent) -> None:
        """Adds to `writer` (the batch that creates the submission and its run) the
        record of what the object became and, for a signed-URL upload, the claim of its
        grant. Both are created, never set: a concurrent delivery's commit, or a second
        object's under the same grant, collides and writes nothing."""
        batch.raw.create(self.db.collection(UPLOAD_EVENTS).document(event.id), to_doc(event))
        if event.upload_id is not None:
            claim = {"event_id": event.id, "expire_at": event.expire_at}
            batch.raw.create(self.db.collection(UPLOAD_GRANTS).document(event.upload_id), claim)

    def record_grant(self, grant: UploadGrant) -> None:
        self.db.collection(UPLOAD_URL_GRANTS).document(grant.id).create(
            grant.model_dump(mode="python", exclude={"id"})
        )

    def find_grant(self, upload_id: str) -> UploadGrant | None:
        snap = self.db.collection(UPLOAD_URL_GRANTS).document(upload_id).get()
        if not snap.exists:
            return None
        return UploadGrant.model_validate({**(snap.to_dict() or {}), "id": snap.id})

    def _uploader_ref(self, org_id: str, member: str) -> Any:
        return self.db.collection(UPLOADERS).document(stable_id(org_id, member))

    def add_uploader(self, uploader: Uploader) -> bool:
        """False when the member was already one of the org's uploaders."""
        from google.api_core import exceptions

        try:
            self._uploader_ref(uploader.org_id, uploader.member).create(uploader.model_dump())
        except exceptions.Conflict:
            return False
        return True

    def remove_uploader(self, org_id: str, member: str) -> bool:
        ref = self._uploader_ref(org_id, member)
        if not ref.get().exists:
            return False
        ref.delete()
        return True

    def uploaders(self, org_id: str, limit: int | None = None) -> list[Uploader]:
        query = self.db.collection(UPLOADERS).where(filter=FieldFilter("org_id", "==", org_id))
        if limit is not None:
            query = query.limit(limit)
        found = [Uploader.model_validate(snap.to_dict()) for snap in query.stream()]
        return sorted(found, key=lambda u: u.member)

    def has_uploaders(self, org_id: str) -> bool:
        return bool(self.uploaders(org_id, limit=1))
