"""Flow 1, submit: check the file against the workflow, record the Submission and its
PENDING run in one commit, then queue the first step's launch."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.api_core import exceptions as google_exceptions

from shared.adapters.tasks import TaskQueue
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.domain.enums import RunStatus
from shared.domain.models import (
    ApiKey,
    IdempotencyRecord,
    StepRun,
    Submission,
    ValidationRun,
)
from shared.domain.retention import expires_at, retain_until
from shared.errors import NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from shared.files import detect_file_type, media_type
from shared.ids import new_id, stable_id
from shared.persistence.repositories import Repositories, to_doc
from shared.services.dispatch import enqueue_launch
from shared.storage import BlobStore
from shared.storage.layout import Layout, safe_filename

log = logging.getLogger(__name__)


@dataclass
class IncomingFile:
    data: bytes
    filename: str | None
    content_type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None


@dataclass
class Submitted:
    run: ValidationRun
    submission: Submission
    created: bool


def _fingerprint(slug: str, incoming: IncomingFile, checksum: str) -> str:
    body = json.dumps(
        [slug, checksum, incoming.filename, incoming.metadata, incoming.project_id],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def submit(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    *,
    key: ApiKey,
    slug: str,
    incoming: IncomingFile,
    idempotency_key: str | None = None,
    now: Clock = utcnow,
) -> Submitted:
    org_id = key.org_id
    workflow = repos.get_workflow(org_id, slug)
    version = repos.get_version(workflow)

    size = len(incoming.data)
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"the file is {size} bytes; this service accepts at most {settings.max_upload_bytes}"
        )
    if size == 0:
        raise Unprocessable("the file is empty")
    file_type = detect_file_type(incoming.filename, incoming.content_type)
    if file_type not in version.allowed_file_types:
        raise UnsupportedMediaType(
            f"workflow {slug!r} accepts {version.allowed_file_types}; this file is {file_type!r} "
            f"(content type {media_type(incoming.content_type) or 'none'!r}, "
            f"name {incoming.filename!r})"
        )
    if incoming.project_id is not None:
        try:
            repos.get_project(org_id, incoming.project_id)
        except NotFound:
            raise Unprocessable(
                f"project_id {incoming.project_id!r} is not a project of this organization"
            ) from None

    created_at = now()
    checksum = hashlib.sha256(incoming.data).hexdigest()
    submission_id, run_id = new_id(), new_id()
    filename = safe_filename(incoming.filename, default=f"submission.{file_type}")
    layout = Layout(settings.storage_uri)

    content: str | None = None
    input_file: str | None = None
    if size <= settings.inline_max_bytes:
        try:
            content = incoming.data.decode("utf-8")
        except UnicodeDecodeError:
            content = None
    if content is None:
        # Written before the commit so a committed Submission never points at nothing.
        input_file = layout.submission_file(org_id, submission_id, filename)
        store.write_bytes(
            input_file,
            incoming.data,
            incoming.content_type,
            create_only=True,
            retain_until=retain_until(version.retention.submission, created_at),
        )

    policy = version.retention.submission
    submission = Submission(
        id=submission_id,
        org_id=org_id,
        project_id=incoming.project_id,
        api_key_id=key.id,
        workflow_id=workflow.id,
        workflow_slug=workflow.slug,
        workflow_version=version.version,
        content=content,
        input_file=input_file,
        original_filename=filename,
        content_type=media_type(incoming.content_type) or "application/octet-stream",
        file_type=file_type,
        size_bytes=size,
        checksum_sha256=checksum,
        metadata=incoming.metadata,
        retention_policy=policy,
        expires_at=expires_at(policy, created_at),
        latest_run_id=run_id,
        created_at=created_at,
    )
    run = ValidationRun(
        id=run_id,
        org_id=org_id,
        submission_id=submission_id,
        project_id=incoming.project_id,
        workflow_id=workflow.id,
        workflow_slug=workflow.slug,
        workflow_version=version.version,
        created_at=created_at,
        config=version.steps,
        steps=[
            StepRun(order=i, key=s.key, name=s.name, validator=s.validator)
            for i, s in enumerate(version.steps)
        ],
        submission_retention=policy,
        output_retention=version.retention.output,
    )

    record_id = stable_id(org_id, idempotency_key) if idempotency_key else None
    fingerprint = _fingerprint(slug, incoming, checksum)

    def commit() -> IdempotencyRecord | None:
        """One atomic batch: the idempotency record, the submission and the run. The
        record is create()d, so of concurrent duplicates exactly one commit succeeds and
        the rest collide, with no read-then-write transaction to contend over."""
        batch = repos.db.batch()
        if record_id is not None:
            existing = repos.find_idempotency(record_id)
            if existing is not None and existing.expires_at > created_at:
                return existing
            record = IdempotencyRecord(
                id=record_id,
                org_id=org_id,
                key=idempotency_key or "",
                request_sha256=fingerprint,
                run_id=run_id,
                submission_id=submission_id,
                created_at=created_at,
                expires_at=created_at + timedelta(hours=settings.idempotency_ttl_hours),
            )
            ref = repos.idempotency_ref(record_id)
            if existing is None:
                batch.create(ref, to_doc(record))
            else:
                # Replacing an expired record: only if nobody replaced it meanwhile.
                batch.update(
                    ref,
                    to_doc(record),
                    option=repos.db.write_option(last_update_time=existing.updated),
                )
        batch.create(repos.submission_ref(submission_id), to_doc(submission))
        batch.create(repos.run_ref(run_id), to_doc(run))
        batch.commit()
        return None

    try:
        earlier = commit()
    except (google_exceptions.Conflict, google_exceptions.FailedPrecondition):
        # A concurrent duplicate committed first; answer as its replay.
        earlier = repos.find_idempotency(record_id) if record_id else None
        if earlier is None:
            raise
    if earlier is not None:
        if input_file:
            store.delete(input_file)
        if earlier.request_sha256 != fingerprint:
            raise Unprocessable(
                f"Idempotency-Key {idempotency_key!r} was already used within "
                f"{settings.idempotency_ttl_hours} h for a different request"
            )
        prior_run = repos.get_run(org_id, earlier.run_id)
        prior_submission = repos.get_submission(org_id, earlier.submission_id)
        if prior_run.status is RunStatus.PENDING:
            # The first answer may have failed before its task was queued; the task name
            # makes this a no-op when it was.
            enqueue_launch(queue, settings, prior_run.id, 0, 1)
        return Submitted(prior_run, prior_submission, created=False)

    enqueue_launch(queue, settings, run_id, 0, 1)
    log.info("submitted", extra={"run_id": run_id, "submission_id": submission_id})
    return Submitted(run, submission, created=True)
