"""The upload trigger: an object finalized in the uploads bucket as
`{org}/{workflow slug}/{filename}` becomes a Submission, a run and a launch, through the
same rules as the API (retention, size, file type, project). The accepted object is
copied into the content location (with its retention as customTime) and deleted from
the uploads bucket, which is only a drop zone: its age rule deletes whatever no run
claimed, and so can never take a file a run still reads.

Every delivery is at-least-once. The (bucket, name, generation) of an object keys an
UploadEvent created in the same commit as the Submission, so a repeat — even a
concurrent one — creates nothing. An upload that can never become a run (a malformed
name, an unknown org or workflow, a refused type, too large) is recorded as REJECTED
with its reason and its object deleted (Assay keeps no content it will not process);
the trigger is acknowledged, so Eventarc does not retry it forever. Anything transient
raises, and Eventarc retries.

The copy is made before the commit, under a name keyed by the event, so it is this
generation's own. Whatever a delivery ends in other than acceptance (a refusal, the
object gone, a concurrent delivery's refusal recorded first) deletes it: a copy no
submission references has no other owner, and one kept permanently has no customTime
for a lifecycle rule to find. The UploadEvent, created once, is the one verdict: an
object found gone is recorded refused too, so a delivery that copied it before it went
cannot then accept it with a copy another delivery deleted.

Who may upload is decided, not read from the object (decision record 0025). A
`{org}/{workflow}/{upload id}/{file}` object is taken only if the api granted a signed
URL for exactly that name: the org, workflow and API key come from that grant. A
`{org}/{workflow}/{file}` object is taken only if the org has uploaders, whom Cloud
Storage's IAM conditions alone let write under `{org}/`. Object metadata (`user`, a
project, custom fields) is a label, never an identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.storage import BlobExists, BlobNotFound, BlobStore
from shared.adapters.storage.layout import Layout, UploadName, UploadsLayout
from shared.adapters.tasks import TaskQueue
from shared.domain.callers import member_email
from shared.domain.enums import Role, UploadStatus
from shared.domain.models import Submission, UploadEvent, ValidationRun
from shared.domain.retention import retain_until
from shared.persistence.ports import Repositories, UploadGrant, WriteBatch
from shared.platform import logs
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import AssayError, TooManyRequests, Transient
from shared.platform.ids import is_new_id
from shared.services.admission import check_queue
from shared.services.submissions import (
    Accepted,
    Marker,
    StoredFile,
    Submitter,
    accept,
    launch_if_pending,
    submit_stored,
)

log = logging.getLogger(__name__)

FINALIZED = "google.cloud.storage.object.v1.finalized"
# Custom object metadata that says who and for which project; the rest is kept as the
# submission's metadata. A signed-URL upload carries all three, signed, spelled with
# hyphens (HTTP servers and proxies drop header names with `_`); an object written
# directly may spell them with `_` as well.
API_KEY_KEY, PROJECT_KEY, USER_KEY = "api-key-id", "project-id", "user"
OURS = frozenset({API_KEY_KEY, PROJECT_KEY, USER_KEY, "api_key_id", "project_id"})


def _ours(obj: UploadedObject, key: str) -> str | None:
    return obj.metadata.get(key) or obj.metadata.get(key.replace("-", "_")) or None


READ_CHUNK = 1024 * 1024


class UploadedObject(BaseModel):
    """The data of a finalized-object CloudEvent: Cloud Storage's object resource.
    Eventarc sends its numbers (generation, size) as strings; they are read as numbers."""

    model_config = ConfigDict(extra="ignore", defer_build=True, populate_by_name=True)
    bucket: str = Field(min_length=1)
    name: str = Field(min_length=1)
    generation: int = Field(ge=0)
    size: int = Field(ge=0)
    content_type: str = Field(default="", alias="contentType")
    content_encoding: str = Field(default="", alias="contentEncoding")
    metadata: dict[str, str] = Field(default_factory=dict)


class UploadOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    # The object was deleted or replaced before this delivery read it.
    GONE = "gone"
    # Not from the uploads bucket: a misrouted trigger, not this service's to judge.
    IGNORED = "ignored"


@dataclass(frozen=True)
class UploadResult:
    outcome: UploadOutcome
    event_id: str
    reason: str | None = None
    run_id: str | None = None
    submission_id: str | None = None


def _sha256(store: BlobStore, uri: str) -> str:
    digest = hashlib.sha256()
    with store.open_read(uri) as stream:
        while chunk := stream.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Trigger:
    """What every step of one delivery works with."""

    repos: Repositories
    store: BlobStore
    queue: TaskQueue
    settings: Settings
    now: Clock


@dataclass(frozen=True)
class _Upload:
    """One delivery, with what every step needs to know of it."""

    obj: UploadedObject
    event_id: str
    uri: str
    org_id: str
    upload_id: str | None
    record_days: int
    # Where this generation is copied if accepted, keyed by the event: no other
    # object's name (None for a name that is never copied).
    copy: str | None = None

    def event(self, status: UploadStatus, at: Clock, **fields: str | None) -> UploadEvent:
        created = at()
        return UploadEvent(
            id=self.event_id,
            org_id=self.org_id,
            bucket=self.obj.bucket,
            name=self.obj.name,
            generation=self.obj.generation,
            upload_id=self.upload_id,
            status=status,
            created_at=created,
            expire_at=created + timedelta(days=self.record_days),
            **fields,
        )


def _upload(
    settings: Settings, obj: UploadedObject, event_id: str, parsed: UploadName | None
) -> _Upload:
    uri = UploadsLayout(settings.uploads_uri).object_uri(obj.name, obj.generation)
    days = settings.upload_record_days
    if parsed is None:
        return _Upload(obj, event_id, uri, "", None, days)
    copy = Layout(settings.storage_uri).claimed_upload(parsed.org_id, event_id, parsed.filename)
    return _Upload(obj, event_id, uri, parsed.org_id, parsed.upload_id, days, copy)


def receive_upload(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    obj: UploadedObject,
    now: Clock = utcnow,
) -> UploadResult:
    event_id = repos.uploads.event_id(obj.bucket, obj.name, obj.generation)
    if obj.bucket != UploadsLayout(settings.uploads_uri).bucket:
        log.warning("an object of bucket %r is not an upload; ignored", obj.bucket)
        return UploadResult(UploadOutcome.IGNORED, event_id, f"bucket {obj.bucket!r}")
    at = _Trigger(repos, store, queue, settings, now)
    parsed = UploadsLayout.parse(obj.name)
    upload = _upload(settings, obj, event_id, parsed)
    seen = repos.uploads.find_event(event_id)
    if seen is not None:
        return _duplicate(at, upload, seen)
    if parsed is None:
        return _reject(at, upload, MALFORMED)
    logs.bind(org_id=parsed.org_id)
    refusal, recorded, grant = _admission(repos, upload, now)
    if refusal is not None:
        return _reject(at, recorded, refusal)
    try:
        accepted = accept(
            repos,
            settings,
            parsed.org_id,
            parsed.slug,
            size=obj.size,
            filename=parsed.filename,
            content_type=obj.content_type,
            project_id=_ours(obj, PROJECT_KEY),
            limit=settings.max_object_bytes,
        )
    except AssayError as exc:  # the workflow's rules refuse this file, for good
        return _reject(at, upload, exc.detail)
    _within_limit(repos, settings, upload)
    return _submit(at, upload, parsed, grant, accepted)


def _within_limit(repos: Repositories, settings: Settings, upload: _Upload) -> None:
    """Transient (503: Eventarc delivers the event again, with its backoff) while the
    org is at its runs in flight (decision record 0029). Checked after every refusal,
    so an object that can never be a run is refused at once, and before the copy, so a
    waiting delivery reads no content."""
    try:
        check_queue(repos, settings, upload.org_id)
    except TooManyRequests as exc:
        log.warning(
            "upload %s waits: its organization is at its runs in flight",
            upload.obj.name,
            extra={"org_id": upload.org_id, "upload_event": upload.event_id},
        )
        raise Transient(
            f"{exc.detail.split(';')[0]}; the upload waits for a later delivery",
            headers=exc.headers,
        ) from None


MALFORMED = (
    "the object name must be {org}/{workflow}/{filename} "
    "(or, through a signed URL, {org}/{workflow}/{upload id}/{filename})"
)
GONE = "the object was deleted or replaced before it could be read"


def _admission(
    repos: Repositories, upload: _Upload, now: Clock
) -> tuple[str | None, _Upload, UploadGrant | None]:
    """Why the object may not become a run (None: it may), the upload as its refusal
    is recorded, and the signed-URL grant that vouches for it, if any."""
    obj, org_id, upload_id = upload.obj, upload.org_id, upload.upload_id
    grant = None
    if upload_id is not None:
        grant = repos.uploads.find_grant(upload_id) if is_new_id(upload_id) else None
        if grant is None or grant.object_name != obj.name:
            # Recorded without the upload id, whatever the reason: a refusal of another
            # name must not use up, or stand for, the grant's own object.
            unvouched = replace(upload, upload_id=None)
            if not is_new_id(upload_id):
                return MALFORMED, unvouched, None
            return f"no upload URL was granted for this object name ({upload_id})", unvouched, None
    if repos.orgs.get(org_id) is None:
        return f"organization {org_id!r} does not exist", upload, None
    if obj.content_encoding not in ("", "identity"):
        # Checked sizes are stored sizes; a decoded read could be any size at all.
        encoding = obj.content_encoding[:50]
        return f"content encoding {encoding!r} is not accepted: send the file as is", upload, None
    if grant is None:
        return _direct_refusal(repos, org_id), upload, None
    return _grant_refusal(repos, upload, grant, now), upload, grant


def _submit(
    at: _Trigger,
    upload: _Upload,
    parsed: UploadName,
    grant: UploadGrant | None,
    accepted: Accepted,
) -> UploadResult:
    """Claims the object (a copy the run reads) and records its submission and run."""
    try:
        stored = _claim(at, upload, parsed, accepted)
    except BlobNotFound:
        return _gone(at, upload)
    # Who asked comes from the grant Assay wrote; the object's metadata is only a label.
    key_id = grant.api_key_id if grant is not None else None
    submitter = Submitter(parsed.org_id, api_key_id=key_id, user=_ours(upload.obj, USER_KEY))
    submitted = submit_stored(
        at.repos,
        at.queue,
        at.settings,
        submitter=submitter,
        accepted=accepted,
        stored=stored,
        marker=_marker(at, upload),
        now=at.now,
    )
    if submitted is None:
        return _collided(at, upload)
    at.store.delete(upload.uri)  # the run reads its copy; the drop zone keeps nothing
    run, submission = submitted.run, submitted.submission
    return UploadResult(UploadOutcome.ACCEPTED, upload.event_id, None, run.id, submission.id)


def _claim(at: _Trigger, upload: _Upload, parsed: UploadName, accepted: Accepted) -> StoredFile:
    """Copies this generation of the upload into the content location (server-side on
    Cloud Storage), with its retention as customTime, and describes the copy. The run
    reads the copy: the uploads bucket's age rule, which deletes whatever no run
    claimed, can never take a file a run still needs."""
    obj, copy = upload.obj, upload.copy
    assert copy is not None
    until = retain_until(accepted.version.retention.submission, at.now())
    checksum = _sha256(at.store, upload.uri)
    # BlobExists: an earlier delivery of this generation copied it, the same bytes.
    with contextlib.suppress(BlobExists):
        at.store.copy(upload.uri, copy, create_only=True, retain_until=until)
    return StoredFile(
        uri=copy,
        checksum_sha256=checksum,
        size=obj.size,
        filename=parsed.filename,
        content_type=obj.content_type,
        metadata={k: v for k, v in obj.metadata.items() if k not in OURS},
        project_id=_ours(obj, PROJECT_KEY),
    )


def _marker(at: _Trigger, upload: _Upload) -> Marker:
    def record(batch: WriteBatch, submission: Submission, run: ValidationRun) -> None:
        event = upload.event(
            UploadStatus.ACCEPTED, at.now, submission_id=submission.id, run_id=run.id
        )
        batch.accept_upload(event)

    return record


def _collided(at: _Trigger, upload: _Upload) -> UploadResult:
    """The commit collided: a concurrent delivery of this generation decided first
    (accepted or refused it), or another object used the grant up."""
    seen = at.repos.uploads.find_event(upload.event_id)
    if seen is None and upload.upload_id is not None:
        return _reject(at, upload, _used(upload.upload_id))
    return _duplicate(at, upload, seen)


def _gone(at: _Trigger, upload: _Upload) -> UploadResult:
    """The object went before this delivery read or copied it. Recorded refused, so a
    delivery that copied it earlier can no longer accept it (and its copy goes), and
    without the upload id: a grant whose object went may send one again."""
    log.info("upload %s is gone; nothing to do", upload.obj.name)
    result = _reject(at, replace(upload, upload_id=None), GONE)
    if result.outcome is UploadOutcome.REJECTED:
        return replace(result, outcome=UploadOutcome.GONE)
    return result


def _used(upload_id: str) -> str:
    return f"the upload URL of grant {upload_id} was already used: ask for another"


def _grant_refusal(
    repos: Repositories, upload: _Upload, grant: UploadGrant, now: Clock
) -> str | None:
    """Why the object of a signed-URL grant may not become a run: the URL was used
    already, or the key (or member) that asked for it may no longer submit."""
    assert upload.upload_id is not None
    earlier = repos.uploads.find_granted(upload.org_id, upload.upload_id)
    if earlier is not None and earlier.generation != upload.obj.generation:
        return _used(upload.upload_id)
    email = member_email(grant.api_key_id)
    if email is not None:
        member = repos.members.get(grant.org_id, email)
        if member is None or not member.role.allows(Role.SUBMITTER):
            return f"{email!r}, who asked for this upload, may no longer submit in this org"
        return None
    key = repos.keys.get(grant.api_key_id)
    if key is None or key.org_id != grant.org_id:
        return "the API key that asked for this upload no longer exists"
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now()):
        return f"the API key {key.prefix} that asked for this upload is revoked or expired"
    return None


def _direct_refusal(repos: Repositories, org_id: str) -> str | None:
    """An object written straight into the bucket: only an org's uploaders may, and
    Cloud Storage's IAM conditions enforce who they are; an org with none takes none."""
    if repos.uploads.has_uploaders(org_id):
        return None
    return (
        f"organization {org_id!r} has no uploaders, so it takes no object written "
        "directly: ask the API for an upload URL (POST .../workflows/{slug}/uploads), or "
        "have an admin run `assay admin uploaders add`"
    )


def _reject(at: _Trigger, upload: _Upload, reason: str) -> UploadResult:
    """Records the refusal, unless a concurrent delivery recorded its verdict first
    (which stands, acceptance included), and deletes the object and any copy of it."""
    if not at.repos.uploads.record_event(
        upload.event(UploadStatus.REJECTED, at.now, reason=reason)
    ):
        return _duplicate(at, upload, at.repos.uploads.find_event(upload.event_id))
    log.warning(
        "upload %s rejected: %s",
        upload.obj.name,
        reason,
        extra={"org_id": upload.org_id, "upload_event": upload.event_id},
    )
    _discard(at.store, upload, copy=True)
    return UploadResult(UploadOutcome.REJECTED, upload.event_id, reason)


def _discard(store: BlobStore, upload: _Upload, *, copy: bool) -> None:
    """Deletes this generation of the upload (a newer one under the same name is not
    ours) and, with `copy`, this event's copy: no submission reads it, and under
    STORE_PERMANENTLY nothing else would ever remove it."""
    for uri in (upload.uri, upload.copy if copy else None):
        if uri is None:
            continue
        try:
            store.delete(uri)
        except ValueError:  # a name a local folder cannot hold (`..`): nothing there
            log.warning("upload %r names no object here; nothing deleted", upload.obj.name)


def _duplicate(at: _Trigger, upload: _Upload, seen: UploadEvent | None) -> UploadResult:
    if seen is None:
        raise RuntimeError("an upload event collided but cannot be read back")
    # Claimed (copied) or refused: either way this generation is done with; its copy
    # stays only for the submission that reads it.
    _discard(at.store, upload, copy=seen.status is not UploadStatus.ACCEPTED)
    run = at.repos.runs.find(seen.run_id) if seen.run_id else None
    if run is not None:
        launch_if_pending(at.queue, at.settings, run)
    return UploadResult(
        UploadOutcome.DUPLICATE, seen.id, seen.reason, seen.run_id, seen.submission_id
    )
