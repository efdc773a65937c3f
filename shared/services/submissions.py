"""Flow 1, submit: check the file against the workflow, record the Submission and its
PENDING run in one commit, then queue the first step's launch.

Two doors lead here with the same rules (retention, size, file type, project): the API,
which hands over the bytes (`submit`), and the upload trigger, whose file is already
stored and is only referenced (`submit_stored`). Each commit carries a marker document
created in the same atomic batch: the Idempotency-Key record for the API, the upload
event for uploads. Of concurrent duplicates exactly one commit wins; the rest collide.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from shared.adapters.storage import BlobStore
from shared.adapters.storage.layout import Layout, safe_filename
from shared.adapters.tasks import TaskQueue
from shared.domain.callers import Caller
from shared.domain.deadlines import launch_overdue
from shared.domain.enums import Execution, RetentionPolicy, StepStatus
from shared.domain.files import detect_file_type, media_type
from shared.domain.models import (
    IdempotencyRecord,
    StepRun,
    Submission,
    ValidationRun,
    Workflow,
    WorkflowVersion,
)
from shared.domain.retention import expires_at, retain_until
from shared.persistence.ports import Repositories, WriteBatch
from shared.platform import logs
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import (
    AlreadyExists,
    ChangedConcurrently,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from shared.platform.ids import new_id, stable_id
from shared.services.dispatch import enqueue_launch

log = logging.getLogger(__name__)


@dataclass
class IncomingFile:
    """A file handed over in a request."""

    data: bytes
    filename: str | None
    content_type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None


@dataclass(frozen=True)
class StoredFile:
    """A file already in storage (an upload), referenced rather than copied."""

    uri: str
    checksum_sha256: str
    size: int
    filename: str | None
    content_type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None


@dataclass(frozen=True)
class Submitter:
    org_id: str
    api_key_id: str | None = None
    # Nullable: API keys belong to an org, not a person (docs/decisions/0042).
    user: str | None = None


@dataclass
class Submitted:
    run: ValidationRun
    submission: Submission
    created: bool


# Adds the de-duplication marker for (submission, run) to the commit's batch.
Marker = Callable[[WriteBatch, Submission, ValidationRun], None]


@dataclass(frozen=True)
class Accepted:
    workflow: Workflow
    version: WorkflowVersion
    file_type: str


def accept(
    repos: Repositories,
    settings: Settings,
    org_id: str,
    slug: str,
    *,
    size: int,
    filename: str | None,
    content_type: str,
    project_id: str | None,
    limit: int | None = None,
) -> Accepted:
    """The workflow's rules for a file of this size, name and type, or why not. `limit`
    is the largest size by this route (the API's body limit unless given)."""
    workflow = repos.workflows.get(org_id, slug)
    version = repos.workflows.version(workflow)
    most = settings.max_upload_bytes if limit is None else limit
    if size > most:
        hint = "" if most >= settings.max_object_bytes else "; send bigger files by signed URL"
        raise PayloadTooLarge(
            f"the file is {size} bytes; this route accepts at most {most}{hint} "
            f"(POST /v1/orgs/{org_id}/workflows/{slug}/uploads)"
            if hint
            else f"the file is {size} bytes; this service accepts at most {most}"
        )
    if size == 0:
        raise Unprocessable("the file is empty")
    file_type = detect_file_type(filename, content_type)
    if file_type not in version.allowed_file_types:
        raise UnsupportedMediaType(
            f"workflow {slug!r} accepts {version.allowed_file_types}; this file is {file_type!r} "
            f"(content type {media_type(content_type) or 'none'!r}, name {filename!r})"
        )
    if project_id is not None:
        try:
            repos.orgs.get_project(org_id, project_id)
        except NotFound:
            raise Unprocessable(
                f"project_id {project_id!r} is not a project of this organization"
            ) from None
    return Accepted(workflow, version, file_type)


def build_run(
    submission: Submission,
    version: WorkflowVersion,
    run_id: str,
    created_at: datetime,
    user: str | None,
    settings: Settings,
) -> ValidationRun:
    """A new run of `submission` on its pinned workflow `version`."""
    return ValidationRun(
        id=run_id,
        org_id=submission.org_id,
        submission_id=submission.id,
        project_id=submission.project_id,
        user=user,
        workflow_id=submission.workflow_id,
        workflow_slug=submission.workflow_slug,
        workflow_version=version.version,
        created_at=created_at,
        config=version.steps,
        steps=[
            StepRun(order=i, key=s.key, name=s.name, validator=s.validator)
            for i, s in enumerate(version.steps)
        ],
        submission_retention=submission.retention_policy,
        output_retention=version.retention.output,
        reconcile_at=launch_overdue(created_at, settings.launch_grace_seconds),
        input_sha256=submission.checksum_sha256,
        input_size_bytes=submission.size_bytes,
        input_content_type=submission.content_type,
    )


def _records(
    submitter: Submitter,
    accepted: Accepted,
    *,
    submission_id: str,
    created_at: datetime,
    facts: IncomingFile | StoredFile,
    size: int,
    checksum: str,
    input_file: str | None,
    settings: Settings,
) -> tuple[Submission, ValidationRun]:
    workflow, version = accepted.workflow, accepted.version
    run_id = new_id()
    policy = version.retention.submission
    submission = Submission(
        id=submission_id,
        org_id=submitter.org_id,
        project_id=facts.project_id,
        user=submitter.user,
        api_key_id=submitter.api_key_id,
        workflow_id=workflow.id,
        workflow_slug=workflow.slug,
        workflow_version=version.version,
        input_file=input_file,
        original_filename=safe_filename(facts.filename, f"submission.{accepted.file_type}"),
        content_type=media_type(facts.content_type) or "application/octet-stream",
        file_type=accepted.file_type,
        size_bytes=size,
        checksum_sha256=checksum,
        metadata=facts.metadata,
        retention_policy=policy,
        expires_at=expires_at(policy, created_at),
        latest_run_id=run_id,
        run_ids=[run_id],
        created_at=created_at,
    )
    run = build_run(submission, version, run_id, created_at, submitter.user, settings)
    return submission, run


def _commit(
    repos: Repositories, submission: Submission, run: ValidationRun, marker: Marker
) -> None:
    """One atomic batch: the marker, the submission and the run. Every document is
    create()d, so of concurrent duplicates exactly one commit succeeds and the rest
    collide, with no read-then-write transaction to contend over."""
    logs.bind(run_id=run.id, org_id=run.org_id, submission_id=submission.id)
    batch = repos.batch()
    marker(batch, submission, run)
    batch.create(submission)
    batch.create(run)
    batch.commit()


def launch_if_pending(queue: TaskQueue, settings: Settings, run: ValidationRun) -> None:
    """Queues the launch of a job-path run's step that waits for one, for a replay."""
    step = None if run.terminal else run.current_step()
    if run.execution is Execution.JOB and step is not None and step.status is StepStatus.PENDING:
        # A replay heals a first answer that failed before its task was queued (a new
        # run's first step, or the step an inline run handed over); the task name makes
        # this a no-op when it was. An inline run is still being run by the request that
        # created it, or healed by the reconcile pass once overdue.
        enqueue_launch(queue, settings, run.id, step.order, step.attempt + 1)


# -- the API: bytes in hand ---------------------------------------------------------


def _fingerprint(slug: str, incoming: IncomingFile, checksum: str) -> str:
    body = json.dumps(
        [slug, checksum, incoming.filename, incoming.metadata, incoming.project_id],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _idempotency_marker(
    repos: Repositories, record: IdempotencyRecord, existing: IdempotencyRecord | None
) -> Marker:
    def add(batch: WriteBatch, submission: Submission, run: ValidationRun) -> None:
        if existing is None or existing.updated is None:
            batch.create(record)
        else:
            # Replacing an expired record: only if nobody replaced it meanwhile.
            batch.replace_unless_changed(record, existing.updated)

    return add


def submit(
    repos: Repositories,
    store: BlobStore,
    queue: TaskQueue,
    settings: Settings,
    *,
    key: Caller,
    slug: str,
    incoming: IncomingFile,
    idempotency_key: str | None = None,
    admitted: Callable[[], AbstractContextManager[object]] = nullcontext,
    now: Clock = utcnow,
) -> Submitted:
    """Accepts a file in hand: the workflow's rules, then a replay of an earlier request
    with the same Idempotency-Key, else a new Submission and run, checked inline or
    queued for the job path."""
    accepted = accept(
        repos,
        settings,
        key.org_id,
        slug,
        size=len(incoming.data),
        filename=incoming.filename,
        content_type=incoming.content_type,
        project_id=incoming.project_id,
    )
    request = _Request(
        repos, store, queue, settings, key, slug, incoming, accepted, now(), idempotency_key
    )
    existing = repos.submissions.idempotency(request.record_id) if request.record_id else None
    if existing is not None and existing.expires_at > request.created_at:
        return _replay(repos, queue, settings, existing, request.fingerprint)
    # Within `admitted` (the org's limits, 0029) only a new run: a replay answers its
    # existing run whatever the org's load, so a client's retry never meets a 429.
    with admitted():
        return _submit_new(request, existing, now)


@dataclass(frozen=True)
class _Request:
    """One submission of bytes in hand, with what every step needs to know of it."""

    repos: Repositories
    store: BlobStore
    queue: TaskQueue
    settings: Settings
    key: Caller
    slug: str
    incoming: IncomingFile
    accepted: Accepted
    created_at: datetime
    idempotency_key: str | None

    @cached_property
    def checksum(self) -> str:
        return hashlib.sha256(self.incoming.data).hexdigest()

    @property
    def record_id(self) -> str | None:
        if not self.idempotency_key:
            return None
        return stable_id(self.key.org_id, self.idempotency_key)

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.slug, self.incoming, self.checksum)


def _submit_new(request: _Request, existing: IdempotencyRecord | None, now: Clock) -> Submitted:
    # Only the api submits bytes in hand: the upload function never loads the fast path.
    from shared.services import admission, fast_path

    version = request.accepted.version
    execution = admission.admit(
        fast_path.plan(version, len(request.incoming.data), request.settings)
    )
    # DO_NOT_STORE on the fast path: the content lives only in this request's memory.
    keep = not (
        execution is Execution.INLINE
        and version.retention.submission is RetentionPolicy.DO_NOT_STORE
    )
    submission, run = _new_records(request, keep=keep)
    if execution is Execution.INLINE:
        run.execution = Execution.INLINE
        run.reconcile_at = fast_path.inline_overdue(request.settings, request.created_at)
        if not keep:
            submission.content_purged_at = request.created_at
    try:
        _commit(request.repos, submission, run, _marker(request, run, existing))
    except (AlreadyExists, ChangedConcurrently):
        # A concurrent duplicate committed first; answer as its replay.
        earlier = (
            request.repos.submissions.idempotency(request.record_id) if request.record_id else None
        )
        if earlier is None:
            raise
        return _answer_the_duplicate(request, submission, earlier)
    log.info(
        "submitted",
        extra={"run_id": run.id, "submission_id": submission.id, "execution": execution},
    )
    return _start(request, submission, run, keep, now)


def _new_records(request: _Request, *, keep: bool) -> tuple[Submission, ValidationRun]:
    """The Submission and its run, the content written first when it is kept."""
    accepted, incoming = request.accepted, request.incoming
    submission_id = new_id()
    input_file = (
        keep_content(
            request.store,
            request.settings,
            org_id=request.key.org_id,
            submission_id=submission_id,
            filename=safe_filename(incoming.filename, f"submission.{accepted.file_type}"),
            content_type=incoming.content_type,
            data=incoming.data,
            retain=retain_until(accepted.version.retention.submission, request.created_at),
        )
        if keep
        else None
    )
    return _records(
        Submitter(request.key.org_id, api_key_id=request.key.id),
        accepted,
        submission_id=submission_id,
        created_at=request.created_at,
        facts=incoming,
        size=len(incoming.data),
        checksum=request.checksum,
        input_file=input_file,
        settings=request.settings,
    )


def _marker(request: _Request, run: ValidationRun, existing: IdempotencyRecord | None) -> Marker:
    """What the commit also writes: the Idempotency-Key's record, if the request has one."""
    if request.record_id is None:
        return lambda *_: None
    record = IdempotencyRecord(
        id=request.record_id,
        org_id=request.key.org_id,
        key=request.idempotency_key or "",
        request_sha256=request.fingerprint,
        run_id=run.id,
        submission_id=run.submission_id,
        created_at=request.created_at,
        expires_at=request.created_at + timedelta(hours=request.settings.idempotency_ttl_hours),
    )
    return _idempotency_marker(request.repos, record, existing)


def _answer_the_duplicate(
    request: _Request, submission: Submission, earlier: IdempotencyRecord
) -> Submitted:
    """This request answers as the earlier one's replay; the content it wrote goes."""
    if submission.input_file:
        request.store.delete(submission.input_file)
    return _replay(request.repos, request.queue, request.settings, earlier, request.fingerprint)


def _start(
    request: _Request, submission: Submission, run: ValidationRun, keep: bool, now: Clock
) -> Submitted:
    """Checks the file inline, or queues the run's launch."""
    from shared.services import fast_path

    if run.execution is not Execution.INLINE:
        enqueue_launch(request.queue, request.settings, run.id, 0, 1)
        return Submitted(run, submission, created=True)
    repos = request.repos
    run = fast_path.run_inline(
        repos,
        request.store,
        request.queue,
        request.settings,
        run,
        submission,
        request.incoming.data,
        now,
    )
    if run.execution is Execution.JOB and not keep:
        # Handed over to the job path, which needed the content kept after all.
        submission = repos.submissions.get(request.key.org_id, submission.id)
    return Submitted(run, submission, created=True)


def keep_content(
    store: BlobStore,
    settings: Settings,
    *,
    org_id: str,
    submission_id: str,
    filename: str,
    content_type: str,
    data: bytes,
    retain: datetime | None,
) -> str:
    """Where the job path keeps a submission's bytes: always a file (its URI), written
    now, before any commit names it, so a committed Submission never points at nothing.
    Submitted content never enters Firestore, whatever its policy: point-in-time
    recovery would keep a purged copy there for days (decision record 0027). Records
    made before may still carry `content`; they are read and purged as they were."""
    input_file = Layout(settings.storage_uri).submission_file(org_id, submission_id, filename)
    store.write_bytes(input_file, data, content_type, create_only=True, retain_until=retain)
    return input_file


def _replay(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    earlier: IdempotencyRecord,
    fingerprint: str,
) -> Submitted:
    if earlier.request_sha256 != fingerprint:
        raise Unprocessable(
            f"Idempotency-Key {earlier.key!r} was already used within "
            f"{settings.idempotency_ttl_hours} h for a different request"
        )
    prior_run = repos.runs.get(earlier.org_id, earlier.run_id)
    prior_submission = repos.submissions.get(earlier.org_id, earlier.submission_id)
    launch_if_pending(queue, settings, prior_run)
    return Submitted(prior_run, prior_submission, created=False)


# -- uploads: the file is already stored ------------------------------------------------


def submit_stored(
    repos: Repositories,
    queue: TaskQueue,
    settings: Settings,
    *,
    submitter: Submitter,
    accepted: Accepted,
    stored: StoredFile,
    marker: Marker,
    now: Clock = utcnow,
) -> Submitted | None:
    """Records a Submission that references `stored` (already `accept`ed) and queues
    its run. Returns None when `marker` collided: a duplicate recorded it first."""
    submission, run = _records(
        submitter,
        accepted,
        submission_id=new_id(),
        created_at=now(),
        facts=stored,
        size=stored.size,
        checksum=stored.checksum_sha256,
        input_file=stored.uri,
        settings=settings,
    )
    try:
        _commit(repos, submission, run, marker)
    except AlreadyExists:
        return None
    enqueue_launch(queue, settings, run.id, 0, 1)
    log.info("submitted", extra={"run_id": run.id, "submission_id": submission.id})
    return Submitted(run, submission, created=True)
