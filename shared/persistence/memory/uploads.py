"""Upload events, signed-URL grants and their claims, and uploaders in memory."""

from __future__ import annotations

from shared.domain.models import UploadEvent
from shared.persistence.memory import reads
from shared.persistence.memory.store import (
    UPLOAD_EVENTS,
    UPLOAD_GRANTS,
    UPLOAD_URL_GRANTS,
    UPLOADERS,
    GrantClaim,
    Store,
    create,
    delete,
)
from shared.persistence.ports import Uploader, UploadGrant
from shared.platform.errors import AlreadyExists
from shared.platform.ids import stable_id


class MemoryUploads:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def event_id(self, bucket: str, name: str, generation: int) -> str:
        return stable_id(bucket, name, generation)

    def find_event(self, event_id: str) -> UploadEvent | None:
        return reads.find(self._reader, UPLOAD_EVENTS, event_id, UploadEvent)

    def get_event(self, org_id: str, event_id: str) -> UploadEvent:
        return reads.owned(self._reader, UPLOAD_EVENTS, UploadEvent, org_id, event_id, "upload")

    def record_event(self, event: UploadEvent) -> bool:
        """False when a concurrent delivery recorded it first."""
        try:
            self._store.commit([create(UPLOAD_EVENTS, event.id, event)])
        except AlreadyExists:
            return False
        return True

    def find_granted(self, org_id: str, upload_id: str) -> UploadEvent | None:
        """The event the grant's claim names (accepted), else the first refusal."""
        with self._store.lock:
            claim = reads.find(self._reader, UPLOAD_GRANTS, upload_id, GrantClaim)
            if claim is not None:
                event = self.find_event(claim.event_id)
            else:
                refused = self._reader.query(
                    UPLOAD_EVENTS, lambda m: getattr(m, "upload_id", None) == upload_id
                )
                event = self.find_event(refused[0][0]) if refused else None
        return event if event is not None and event.org_id == org_id else None

    def record_grant(self, grant: UploadGrant) -> None:
        self._store.commit([create(UPLOAD_URL_GRANTS, grant.id, grant)])

    def find_grant(self, upload_id: str) -> UploadGrant | None:
        return reads.find(self._reader, UPLOAD_URL_GRANTS, upload_id, UploadGrant)

    def add_uploader(self, uploader: Uploader) -> bool:
        """False when the member already was one."""
        key = stable_id(uploader.org_id, uploader.member)
        try:
            self._store.commit([create(UPLOADERS, key, uploader)])
        except AlreadyExists:
            return False
        return True

    def remove_uploader(self, org_id: str, member: str) -> bool:
        key = stable_id(org_id, member)
        with self._store.lock:
            if self._store.get(UPLOADERS, key) is None:
                return False
            self._store.commit([delete(UPLOADERS, key)])
            return True

    def uploaders(self, org_id: str, limit: int | None = None) -> list[Uploader]:
        """By member; with `limit`, the first by key are taken before they are sorted,
        as Firestore's limited query takes them."""
        found = [u for u, _ in self._store.models(UPLOADERS, Uploader) if u.org_id == org_id]
        found = found if limit is None else found[:limit]
        return [u.model_copy(deep=True) for u in sorted(found, key=lambda u: u.member)]

    def has_uploaders(self, org_id: str) -> bool:
        return bool(self.uploaders(org_id, limit=1))
