"""What the upload trigger records (decision record 0025): an event per object
generation it saw (`upload_events`), the one claim a signed-URL grant may make
(`upload_grants`), the grants the api signed (`upload_url_grants`, deleted by
Firestore's TTL on `expire_at`), and each org's uploaders (`uploaders`; the bucket's IAM
policy holds the same list, enforced)."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import UploadEvent
from shared.persistence.firestore.documents import (
    UPLOAD_EVENTS,
    UPLOAD_GRANTS,
    UPLOAD_URL_GRANTS,
    UPLOADERS,
    Collections,
    from_snapshot,
    to_doc,
)
from shared.persistence.ports import Uploader, UploadGrant
from shared.platform.ids import stable_id


class FirestoreUploads(Collections):
    @staticmethod
    def event_id(bucket: str, name: str, generation: int) -> str:
        return stable_id(bucket, name, generation)

    def _event_ref(self, event_id: str) -> Any:
        return self.db.collection(UPLOAD_EVENTS).document(event_id)

    def find_event(self, event_id: str) -> UploadEvent | None:
        snap = self._event_ref(event_id).get()
        return from_snapshot(UploadEvent, snap) if snap.exists else None

    def get_event(self, org_id: str, event_id: str) -> UploadEvent:
        return self.owned(UPLOAD_EVENTS, UploadEvent, org_id, event_id, "upload")

    def record_event(self, event: UploadEvent) -> bool:
        """Creates the record; False when a concurrent delivery created it first."""
        try:
            self._event_ref(event.id).create(to_doc(event))
        except gexc.Conflict:
            return False
        return True

    def accept(self, batch: Any, event: UploadEvent) -> None:
        """Adds to `batch` (the one that creates the submission and its run) the record
        of what the object became and, for a signed-URL upload, the claim of its grant.
        Both are created, never set: a concurrent delivery's commit, or a second
        object's under the same grant, collides and writes nothing."""
        batch.create(self._event_ref(event.id), to_doc(event))
        if event.upload_id is not None:
            claim = {"event_id": event.id, "expire_at": event.expire_at}
            batch.create(self.db.collection(UPLOAD_GRANTS).document(event.upload_id), claim)

    def find_granted(self, org_id: str, upload_id: str) -> UploadEvent | None:
        """What the trigger made of the object sent through signed-URL grant `upload_id`
        (None until it has seen it, and for another org's grant)."""
        grant = self.db.collection(UPLOAD_GRANTS).document(upload_id).get()
        if grant.exists:  # the one it was accepted as
            event = self.find_event(str(grant.get("event_id")))
        else:  # none accepted: the refusal, if any
            query = (
                self.db.collection(UPLOAD_EVENTS)
                .where(filter=FieldFilter("upload_id", "==", upload_id))
                .limit(1)
            )
            event = next((from_snapshot(UploadEvent, s) for s in query.stream()), None)
        return event if event is not None and event.org_id == org_id else None

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
        try:
            self._uploader_ref(uploader.org_id, uploader.member).create(uploader.model_dump())
        except gexc.Conflict:
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
