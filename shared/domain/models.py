"""Assay's documents as pydantic v2 models. Every document carries `org_id`."""

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    computed_field,
)

from shared.domain.assertions import Assertion
from shared.domain.enums import (
    ActorKind,
    AuditAction,
    CloudRunJobStatus,
    ErrorCategory,
    Execution,
    ReceiptState,
    RetentionPolicy,
    Role,
    RunResult,
    RunState,
    RunStatus,
    Severity,
    StepStatus,
    UploadStatus,
)
from shared.domain.retention import retain_until
from shared.domain.state import (
    check_run_transition,
    check_step_transition,
    derive_result,
    derive_state,
    is_terminal,
)

# Stored documents are dumped with this context (repositories.to_doc).
FIRESTORE = {"firestore": True}


def _from_stored(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _to_stored(value: Any, info: SerializationInfo) -> Any:
    if info.context and info.context.get("firestore"):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


# A user's free-form JSON (a step's config, a submission's metadata). Firestore refuses
# some of what JSON allows (keys like "__meta__" or "", maps nested deeper than 20), so
# it is stored as one JSON string, and any JSON the user sends round-trips.
JsonObject = Annotated[
    dict[str, Any],
    BeforeValidator(_from_stored),
    PlainSerializer(_to_stored, when_used="always"),
]


class Model(BaseModel):
    # Stored documents may carry derived or newer fields; reading them must not fail.
    # A model's validator is built when it is first used, not at import: each function
    # uses a few of these, and builds only those.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Organization(Model):
    id: str
    name: str
    created_at: datetime


class Project(Model):
    id: str
    org_id: str
    name: str
    created_at: datetime
    archived_at: datetime | None = None


class ApiKey(Model):
    id: str
    org_id: str
    name: str
    # Only the SHA-256 of the secret part is stored; the key itself is shown once.
    secret_sha256: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # Written at most once a minute per key, not on every request.
    last_used_at: datetime | None = None
    # Keys made before roles existed could do everything; they stay admins.
    role: Role = Role.ADMIN

    @property
    def prefix(self) -> str:
        """The part of the key that is not secret, to recognize it by."""
        return f"assay_{self.id}_"


class ResourcePin(Model):
    """A workflow resource as a version uses it: its content, by checksum."""

    sha256: str
    uri: str
    size_bytes: int
    content_type: str


class WorkflowStep(Model):
    key: str
    name: str
    validator: str
    config: JsonObject = Field(default_factory=dict)
    # Versions saved before steps had a timeout get the default.
    timeout_seconds: int = 600
    # CEL over the step's metrics (shared/domain/assertions.py), checked by the callback.
    assertions: list[Assertion] = Field(default_factory=list)
    # The workflow resources the config names, pinned when the version was saved.
    resources: dict[str, ResourcePin] = Field(default_factory=dict)
    # The engine saving chose for this config, where a validator has a choice
    # (json-schema: jsonschema-rs when it gives jsonschema's answers; see
    # shared/contract/json_schema_engine.py).
    engine: str | None = None


class Retention(Model):
    submission: RetentionPolicy = RetentionPolicy.STORE_30_DAYS
    output: RetentionPolicy = RetentionPolicy.STORE_30_DAYS


class Workflow(Model):
    id: str
    org_id: str
    slug: str
    name: str
    latest_version: int
    created_at: datetime
    updated_at: datetime


class WorkflowVersion(Model):
    """One immutable version of a workflow; submissions pin it."""

    workflow_id: str
    org_id: str
    slug: str
    version: int
    name: str
    steps: list[WorkflowStep]
    retention: Retention
    allowed_file_types: list[str]
    # Where its steps run (shared/services/fast_path.py decides AUTO per submission).
    execution: Execution = Execution.AUTO
    # What saving the version noticed but accepted (a schema in another draft's words).
    warnings: list[str] = Field(default_factory=list)
    created_at: datetime


class Submission(Model):
    id: str
    org_id: str
    project_id: str | None = None
    # Nullable: API keys belong to an org, not a person (docs/decisions/0042).
    user: str | None = None
    api_key_id: str | None = None
    workflow_id: str
    workflow_slug: str
    workflow_version: int
    content: str | None = None
    input_file: str | None = None
    original_filename: str
    content_type: str
    file_type: str
    size_bytes: int
    checksum_sha256: str
    metadata: JsonObject = Field(default_factory=dict)
    retention_policy: RetentionPolicy
    expires_at: datetime | None = None
    content_purged_at: datetime | None = None
    latest_run_id: str | None = None
    # Every run of it, so the purge reads them by id (records from before this field
    # have none, and the purge finds theirs by query).
    run_ids: list[str] = Field(default_factory=list)
    # Set when a failed purge handed it to a PurgeRetry: the hourly sweep leaves it to
    # the retry function's backoff from then on, and knows so from its own page.
    purge_retry_since: datetime | None = None
    created_at: datetime

    @property
    def retained_until(self) -> datetime | None:
        """When the content, and every copy a run makes of it, may go."""
        return retain_until(self.retention_policy, self.created_at)


class Summary(Model):
    total: int = 0
    error_count: int = 0
    warning_count: int = 0
    info_count: int = 0
    # Of `total`, the findings counted but not stored one by one: beyond a step's cap, or
    # not listed by their validator (decision record 0020). The findings route lists the
    # rest.
    unstored_count: int = 0

    @classmethod
    def of(cls, severities: list[Severity]) -> "Summary":
        return cls(
            total=len(severities),
            error_count=sum(1 for s in severities if s is Severity.ERROR),
            warning_count=sum(1 for s in severities if s is Severity.WARNING),
            info_count=sum(1 for s in severities if s is Severity.INFO),
        )

    @classmethod
    def unstored(cls, errors: int, warnings: int, infos: int) -> "Summary":
        """Findings known only by their numbers."""
        total = errors + warnings + infos
        return cls(
            total=total,
            error_count=errors,
            warning_count=warnings,
            info_count=infos,
            unstored_count=total,
        )

    def __add__(self, other: "Summary") -> "Summary":
        return Summary(
            total=self.total + other.total,
            error_count=self.error_count + other.error_count,
            warning_count=self.warning_count + other.warning_count,
            info_count=self.info_count + other.info_count,
            unstored_count=self.unstored_count + other.unstored_count,
        )


class StepTimings(Model):
    """Where a step's time went, as the run recorded it: queued (the run was created, or
    the step before it ended) → started (a launch claimed it; `StepRun.started_at`) →
    check started and ended (the validator's own clock, in its output) → called back
    (the callback arrived; none on the fast path) → finalized (its result committed)."""

    queued_at: datetime | None = None
    check_started_at: datetime | None = None
    check_ended_at: datetime | None = None
    called_back_at: datetime | None = None
    finalized_at: datetime | None = None


class EngineEvidence(BaseModel):
    """What checked the file inside the validator (jsonschema-rs, lxml, Saxon, EnergyPlus,
    fmpy, pySHACL) and its version; the evidence manifest repeats it per step."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    name: str
    version: str


class StepRun(Model):
    order: int
    key: str
    name: str
    validator: str
    validator_version: str | None = None
    status: StepStatus = StepStatus.PENDING
    # JOB until the fast path runs the step inside the api function (INLINE).
    execution: Execution = Execution.JOB
    attempt: int = 0
    callback_id: str | None = None
    # Until this instant a launch owns the claim; a retried launch task waits for it.
    claim_expires_at: datetime | None = None
    execution_name: str | None = None
    job_status: CloudRunJobStatus | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    summary: Summary = Field(default_factory=Summary)
    # What the validator measured (named with their unit), as its output reported them.
    metrics: dict[str, Any] = Field(default_factory=dict)
    # What the validator read of the input before checking it (an EnergyPlus model's
    # zones, its objects by type): assertions see them as `model.*`.
    facts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    timings: StepTimings = Field(default_factory=StepTimings)
    # Evidence (shared/domain/evidence.py), recorded where each is known: the image
    # Cloud Run reports for the step's execution (the launch), the engine the validator
    # names, the sha256 of the output.json the callback read, and of the canonical form
    # of the findings stored (the callback, or the fast path).
    image: str | None = None
    engine: EngineEvidence | None = None
    output_sha256: str | None = None
    findings_sha256: str | None = None

    def move(self, target: StepStatus) -> None:
        check_step_transition(self.status, target)
        self.status = target


class ValidationRun(Model):
    id: str
    org_id: str
    # Nullable: the run outlives its submission, project and user (a purge or a
    # deletion keeps the run's record for audit, docs/architecture.md).
    submission_id: str | None = None
    project_id: str | None = None
    user: str | None = None
    workflow_id: str
    workflow_slug: str
    workflow_version: int
    status: RunStatus = RunStatus.PENDING
    error_category: ErrorCategory | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: int | None = None
    # The workflow version's steps as they were when the run was created.
    config: list[WorkflowStep]
    summary: Summary = Field(default_factory=Summary)
    steps: list[StepRun]
    # Snapshots from the submission and workflow, so ending the run knows what to purge.
    submission_retention: RetentionPolicy = RetentionPolicy.STORE_30_DAYS
    output_retention: RetentionPolicy = RetentionPolicy.STORE_30_DAYS
    output_expires_at: datetime | None = None
    output_purged_at: datetime | None = None
    # When the reconcile pass should look at this run (shared/domain/deadlines.py).
    reconcile_at: datetime | None = None
    # INLINE: the api function that took the submission runs its steps (no launch task).
    execution: Execution = Execution.JOB
    # The submitted file's facts, copied when the run is created, so the evidence built
    # at its end reads nothing more (None on runs from before evidence).
    input_sha256: str | None = None
    input_size_bytes: int | None = None
    input_content_type: str | None = None

    @property
    def stored_nothing(self) -> bool:
        """A DO_NOT_STORE run on the fast path: its content lived only in the request's
        memory, so no copy exists for a purge to remove."""
        return (
            self.execution is Execution.INLINE
            and self.submission_retention is RetentionPolicy.DO_NOT_STORE
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> RunState:
        return derive_state(self.status)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def result(self) -> RunResult:
        return derive_result(self.status, self.error_category)

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status)

    def start(self, now: datetime) -> None:
        if self.status is RunStatus.RUNNING:
            return
        check_run_transition(self.status, RunStatus.RUNNING)
        self.status = RunStatus.RUNNING
        self.started_at = now

    def finish(
        self,
        status: RunStatus,
        now: datetime,
        *,
        error_category: ErrorCategory | None = None,
        error: str | None = None,
    ) -> None:
        check_run_transition(self.status, status)
        self.status = status
        self.error_category = error_category
        self.error = error
        self.ended_at = now
        begun = self.started_at or self.created_at
        self.duration_ms = max(0, int((now - begun).total_seconds() * 1000))
        # Steps that never ran are skipped, so the record says what happened to each.
        for step in self.steps:
            if step.status is StepStatus.PENDING:
                step.move(StepStatus.SKIPPED)

    def current_step(self) -> StepRun | None:
        """The first step that has not reached a terminal status."""
        for step in self.steps:
            if step.status in (StepStatus.PENDING, StepStatus.RUNNING):
                return step
        return None


class Finding(Model):
    id: str
    org_id: str
    run_id: str
    step_order: int
    step_key: str
    attempt: int
    index: int
    severity: Severity
    code: str
    message: str
    path: str | None = None
    line: int | None = None
    column: int | None = None
    # The user's rule that produced it (a Schematron rule's id, a SHACL shape, a metric
    # compared with its reference); None for the validator's own checks.
    rule: str | None = None
    created_at: datetime


class Artifact(Model):
    id: str
    org_id: str
    run_id: str
    step_order: int
    attempt: int
    name: str
    uri: str
    sha256: str | None = None
    size_bytes: int | None = None
    created_at: datetime


class CallbackReceipt(Model):
    """Fences deliveries of one callback_id. Created by the first delivery (PROCESSING,
    with a lease), marked DONE in the transaction that finalizes the step. A repeat of a
    DONE receipt is a replay; a PROCESSING one whose lease ran out is taken over."""

    id: str  # the callback_id
    org_id: str
    run_id: str
    step_order: int
    attempt: int
    status: str
    result_uri: str
    received_at: datetime
    state: ReceiptState = ReceiptState.PROCESSING
    owner: str = ""
    lease_expires_at: datetime | None = None
    completed_at: datetime | None = None
    # Firestore's TTL policy deletes the receipt after this moment (bookkeeping only).
    expire_at: datetime | None = None


class IdempotencyRecord(Model):
    id: str
    org_id: str
    key: str
    request_sha256: str
    run_id: str
    submission_id: str
    created_at: datetime
    expires_at: datetime
    # The stored document's update time, for a conditional replace; never stored.
    updated: Any = Field(default=None, exclude=True)


class PurgeRetryState(StrEnum):
    PENDING = "PENDING"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"


class PurgeRetry(Model):
    """A submission whose content must still be purged: a DO_NOT_STORE run that ended
    (due at once), or a purge that failed (due after a backoff). Keyed by submission."""

    id: str  # the submission id
    org_id: str
    submission_id: str
    reason: str
    state: PurgeRetryState = PurgeRetryState.PENDING
    # Failed retries so far; the failure that created the record is not one of them.
    attempt_count: int = 0
    next_retry_at: datetime
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


class WorkflowResource(Model):
    """A file steps of a workflow reference by name (a schema, a weather file). Its
    content lives at a content-addressed path, so a version's pin stays readable after
    the resource is replaced."""

    id: str
    org_id: str
    workflow_slug: str
    name: str
    sha256: str
    uri: str
    size_bytes: int
    content_type: str
    created_at: datetime

    def pin(self) -> ResourcePin:
        return ResourcePin(
            sha256=self.sha256,
            uri=self.uri,
            size_bytes=self.size_bytes,
            content_type=self.content_type,
        )


class UploadEvent(Model):
    """One object generation seen by the upload trigger, keyed by (bucket, name,
    generation): a repeated delivery finds it and creates nothing. It says what became
    of the upload — the run it started, or why it was refused."""

    id: str
    # As the object's name gives it; for a refused upload it may name no real org.
    org_id: str
    bucket: str
    name: str
    generation: int
    # The signed-URL grant it came through (`POST .../uploads`), if any.
    upload_id: str | None = None
    status: UploadStatus
    reason: str | None = None
    submission_id: str | None = None
    run_id: str | None = None
    created_at: datetime
    # Firestore's TTL policy deletes the record after this moment (bookkeeping only).
    expire_at: datetime | None = None


class AuditEntry(Model):
    """One change to an org, as the audit log keeps it: who made it, when, what, to
    which object, and through which route. `details` holds a few facts about the change
    (a version number, a retention policy), never content a user submitted or wrote.
    Kept without expiry: purges of content leave the log alone."""

    id: str
    org_id: str
    at: datetime
    actor: str  # "key:<id>", "member:<id>" or "operator:<name>"
    actor_kind: ActorKind
    action: AuditAction
    target: str  # "workflow:<slug>", "resource:<slug>/<name>", "key:<id>", "run:<id>", ...
    route: str  # "PUT /v1/orgs/{org}/workflows/{slug}" or "cli: assay admin ..."
    details: dict[str, Any] = Field(default_factory=dict)


# A Google identity's email, as IAP asserts it: one address, compared without case.
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")


def normal_email(raw: str) -> str:
    """The address lower-cased and trimmed; ValueError for anything else."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise ValueError(f"{raw[:200]!r} is not an email address (a Google identity)")
    return email


class Member(Model):
    """A person in an org: a Google identity and the role it acts with there (decision
    record 0068). Keyed by (org, email), so a second add of the same person collides."""

    org_id: str
    email: Annotated[str, AfterValidator(normal_email)]
    role: Role
    added_at: datetime
    # Who added the member, as the audit log names them: "key:<id>", "member:<id>" or
    # "operator:<name>" (the command line).
    added_by: str
