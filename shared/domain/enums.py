"""The enums of Assay's domain. Terminal run statuses never change again; FAIL means
the validators found errors, while a runtime or system failure is ERROR."""

from __future__ import annotations

from enum import StrEnum

# Re-exported: the domain speaks of findings' severity as its own.
from shared.contract.severity import Severity as Severity


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"


class RunState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"


class RunResult(StrEnum):
    PASS = "PASS"  # noqa: S105 - a result, not a password
    FAIL = "FAIL"
    ERROR = "ERROR"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"
    UNKNOWN = "UNKNOWN"


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class CloudRunJobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class Execution(StrEnum):
    """Where a step's validator runs: in a Cloud Run Job (the job path), or inside the
    `api` function that took the submission (the fast path, for light validators on small
    files). A workflow may say AUTO: inline when every step allows it and the file is
    small, else a job. A run and each of its steps record JOB or INLINE."""

    AUTO = "auto"
    JOB = "job"
    INLINE = "inline"


class RetentionPolicy(StrEnum):
    DO_NOT_STORE = "DO_NOT_STORE"
    STORE_1_DAY = "STORE_1_DAY"
    STORE_7_DAYS = "STORE_7_DAYS"
    STORE_30_DAYS = "STORE_30_DAYS"
    STORE_90_DAYS = "STORE_90_DAYS"
    STORE_1_YEAR = "STORE_1_YEAR"
    STORE_PERMANENTLY = "STORE_PERMANENTLY"


class ErrorCategory(StrEnum):
    """Why a run did not pass. Only VALIDATION_FAILED makes the result FAIL;
    every other category is a runtime or system failure and makes it ERROR."""

    VALIDATION_FAILED = "VALIDATION_FAILED"
    VALIDATOR_ERROR = "VALIDATOR_ERROR"
    LAUNCH_FAILED = "LAUNCH_FAILED"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    TIMEOUT = "TIMEOUT"
    CANCELED = "CANCELED"


class UploadStatus(StrEnum):
    """What the upload trigger made of one object generation."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class ReceiptState(StrEnum):
    """A callback receipt: a delivery is processing it, it was recorded, or it came for
    a run that had already ended and was refused (acknowledged, nothing kept)."""

    PROCESSING = "PROCESSING"
    DONE = "DONE"
    REFUSED = "REFUSED"


class ReceiptClaim(StrEnum):
    """What a delivery got when it asked for a callback's receipt: it holds it now, the
    callback was already processed, or another live delivery holds it."""

    TAKEN = "TAKEN"
    PROCESSED = "PROCESSED"
    BUSY = "BUSY"


class Role(StrEnum):
    """What an API key (and later a member) may do. Each role includes the ones before
    it: a submitter can do all a viewer can, and so on."""

    VIEWER = "viewer"
    SUBMITTER = "submitter"
    AUTHOR = "author"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class ActorKind(StrEnum):
    """Who made a change the audit log records: an API key, a member of the org (signed
    in to the console), or an operator at the command line with database access."""

    KEY = "key"
    MEMBER = "member"
    OPERATOR = "operator"


class AuditAction(StrEnum):
    """A change the audit log records (docs/decisions/0069-the-audit-log.md)."""

    WORKFLOW_CREATED = "workflow.created"
    WORKFLOW_SAVED = "workflow.saved"
    WORKFLOW_DELETED = "workflow.deleted"
    RETENTION_CHANGED = "retention.changed"
    RESOURCE_UPLOADED = "resource.uploaded"
    RESOURCE_DELETED = "resource.deleted"
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    UPLOADER_ADDED = "uploader.added"
    UPLOADER_REMOVED = "uploader.removed"
    RUN_CANCELLED = "run.cancelled"
    RUN_RERUN = "run.rerun"
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    BADGE_ENABLED = "badge.enabled"
    BADGE_DISABLED = "badge.disabled"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_ROTATED = "webhook.rotated"
