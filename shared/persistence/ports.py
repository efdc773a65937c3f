"""What the services may ask of persistence: one repository per aggregate, each a
Protocol speaking in domain operations, and the units of work that span them. Two
implementations keep these promises: Firestore (`shared/persistence/firestore/`, the
deployed one) and memory (`shared/persistence/memory/`, for tests that need no
emulator); one contract suite (`tests/contract/`) holds both to them.

Shared rules:
- A read of an org's object by the org's id reports another org's object exactly like a
  missing one (`NotFound` from `get…`, None from `find…`).
- `create…` of something that exists raises `AlreadyExists`; a conditional write of
  something that changed since it was read raises `ChangedConcurrently`, or answers
  False where the operation says so.
- Lists come back in the order each operation names; pages carry an opaque token.
- Cursors (`after`) and versions are opaque: hand back what the repository gave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from shared.domain.enums import (
    AuditAction,
    ReceiptClaim,
    ReceiptState,
    Role,
    RunResult,
    RunStatus,
)
from shared.domain.models import (
    ApiKey,
    Artifact,
    AuditEntry,
    CallbackReceipt,
    Finding,
    IdempotencyRecord,
    Member,
    Model,
    Organization,
    Project,
    PurgeRetry,
    PurgeRetryState,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from shared.domain.badges import Badge
    from shared.domain.credentials import IssuedCredential, SigningKey
    from shared.domain.evidence import Manifest
    from shared.domain.webhooks import DeliveryAttempt, Webhook

T = TypeVar("T")
Effect = Callable[[], None]

# The most writes one commit (a batch, or a transaction) may hold: Firestore's limit.
BATCH_LIMIT = 500


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


# -- records some repositories hand out ---------------------------------------------


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


@dataclass(frozen=True)
class SubmissionToPurge:
    """What the purge sweep reads of a submission: a few fields, and its version."""

    id: str
    org_id: str
    input_file: str | None
    run_ids: tuple[str, ...]
    handed_to_retry: bool
    version: Any  # the version it was read at: a mark's precondition


@dataclass(frozen=True)
class RunToPurge:
    id: str
    org_id: str
    submission_id: str
    status: RunStatus
    output_purged: bool
    version: Any


@dataclass(frozen=True)
class StoredInput:
    """A submission as read, and its version: what a change is made against."""

    submission: Submission
    version: Any


# -- units of work ------------------------------------------------------------------


class UnitOfWork(Protocol):
    """One attempt of a read-then-write transaction. Every read comes before every
    write; the attempt may be run again on contention, so it must only read and write
    through here. `after_commit` effects run once, after the attempt that registered
    them has committed, in the order registered. A named field operation (`add_run`,
    `close_receipt`, ...) on a record that is gone fails the commit with NotFound."""

    def run(self, run_id: str) -> ValidationRun | None: ...
    def submission(self, submission_id: str | None) -> Submission | None: ...
    def workflow(self, org_id: str, slug: str) -> Workflow | None: ...
    def version(self, workflow: Workflow, number: int | None = None) -> WorkflowVersion: ...
    def receipt(self, callback_id: str) -> CallbackReceipt | None: ...
    def purge_retry(self, submission_id: str) -> PurgeRetry | None: ...
    def submissions_by_id(self, ids: Sequence[str]) -> dict[str, Submission | None]: ...
    def runs_of(
        self, submissions: dict[str, Submission | None]
    ) -> dict[str, list[ValidationRun]]: ...

    def save(self, model: Model) -> None:
        """Writes a whole aggregate (run, submission, workflow, purge retry), created or
        replaced."""

    def create(self, model: Model) -> None:
        """Writes a new aggregate (run, workflow version); the commit fails with
        AlreadyExists if it exists."""

    def add_run(self, submission_id: str, run_id: str) -> None:
        """Records a new run of the submission (its latest, and one of its runs)."""

    def close_receipt(self, callback_id: str, at: datetime) -> None:
        """The receipt is DONE, completed at `at`."""

    def clear_reconcile(self, run_id: str) -> None: ...

    def hand_to_retry(self, submission_id: str, at: datetime) -> None:
        """Notes on the submission, if it exists and is not noted yet, that the retry
        function has its purge now (reads first)."""

    def mark_submission_purged(self, submission_id: str, at: datetime) -> None:
        """Clears the content and its expiry, keeping the rest of the record."""

    def mark_run_purged(self, run_id: str, at: datetime) -> None: ...
    def record_evidence(self, manifest: Manifest) -> None:
        """Creates the run's evidence manifest; the commit fails with AlreadyExists if
        the run has one (a run ends once, so the first manifest stands)."""

    def after_commit(self, effect: Effect) -> None: ...


class WriteBatch(Protocol):
    """Writes committed together, all or none, with no reads to contend over."""

    def create(self, model: Model) -> None:
        """A new aggregate (submission, run, workflow, version, idempotency record)."""

    def replace_unless_changed(self, model: Model, since: Any) -> None:
        """Replaces the aggregate if it has not changed since version `since`; else the
        commit fails with ChangedConcurrently."""

    def accept_upload(self, event: UploadEvent) -> None:
        """Creates the upload's event and, for a signed-URL upload, the claim of its
        grant: a concurrent delivery's commit, or a second object's under the same
        grant, collides (AlreadyExists)."""

    def commit(self) -> None: ...


# -- one repository per aggregate ---------------------------------------------------


class Orgs(Protocol):
    def create(self, org: Organization) -> None: ...
    def get(self, org_id: str) -> Organization | None: ...
    def create_project(self, project: Project) -> None: ...
    def get_project(self, org_id: str, project_id: str) -> Project: ...


class Keys(Protocol):
    def create(self, key: ApiKey) -> None: ...
    def get(self, key_id: str) -> ApiKey | None: ...
    def save(self, key: ApiKey) -> None: ...
    def all(self, org_id: str) -> list[ApiKey]:
        """Oldest first."""

    def touch(self, key_id: str, at: datetime) -> None: ...
    def revoke(self, org_id: str, key_id: str, at: datetime) -> ApiKey:
        """The first revocation's time stands; another org's key is NotFound."""


class Workflows(Protocol):
    def id_for(self, org_id: str, slug: str) -> str:
        """Derived from (org, slug), so two concurrent creates of a slug collide."""

    def find(self, org_id: str, slug: str) -> Workflow | None: ...
    def get(self, org_id: str, slug: str) -> Workflow: ...
    def all(self, org_id: str) -> list[Workflow]:
        """By slug."""

    def version(self, workflow: Workflow, number: int | None = None) -> WorkflowVersion:
        """The latest version by default; NotFound for one that does not exist."""

    def latest_versions(self, workflows: Sequence[Workflow]) -> list[WorkflowVersion]: ...


class Resources(Protocol):
    def find(self, org_id: str, slug: str, name: str) -> WorkflowResource | None: ...
    def save(self, resource: WorkflowResource) -> None: ...
    def delete(self, org_id: str, slug: str, name: str) -> bool:
        """False when there was none."""

    def all(self, org_id: str, slug: str) -> list[WorkflowResource]:
        """By name."""


class Submissions(Protocol):
    def get(self, org_id: str, submission_id: str) -> Submission: ...
    def find(self, submission_id: str | None) -> Submission | None: ...
    def by_id(self, submission_ids: Sequence[str]) -> dict[str, Submission | None]: ...
    def idempotency(self, record_id: str) -> IdempotencyRecord | None:
        """With `updated` set to the record's version."""


class Runs(Protocol):
    def get(self, org_id: str, run_id: str) -> ValidationRun: ...
    def find(self, run_id: str) -> ValidationRun | None: ...
    def page(
        self,
        org_id: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> Page[ValidationRun]:
        """Newest first (ties by id, descending); a token from another org or list is a
        BadRequest."""

    def to_reconcile(self, at: datetime, limit: int) -> list[ValidationRun]:
        """Runs whose `reconcile_at` is at or before `at`, most overdue first."""

    def of(self, submissions: dict[str, Submission | None]) -> dict[str, list[ValidationRun]]: ...
    def of_submissions(self, submission_ids: Sequence[str]) -> dict[str, list[ValidationRun]]: ...
    def in_flight(self, org_id: str, most: int) -> int:
        """The org's PENDING or RUNNING runs, counted up to `most`."""

    def latest_result(self, org_id: str, workflow_slug: str) -> RunResult | None:
        """The result of the workflow's run that ended last among those that ended
        with one (SUCCEEDED, FAILED, TIMED_OUT: a cancelled run says nothing of the
        files); None when none has. One indexed read of one run's few fields."""


class Findings(Protocol):
    def write(self, run_id: str, findings: Iterable[Finding]) -> int:
        """Ids are deterministic, so a repeat overwrites. Returns how many."""

    def page(
        self,
        org_id: str,
        run_id: str,
        *,
        severity: str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[Finding]:
        """By step, then index; another org's run is NotFound."""

    def count(self, run_id: str) -> int: ...
    def delete(self, run_id: str, ids: Sequence[str]) -> None: ...
    def write_artifacts(self, run_id: str, artifacts: Iterable[Artifact]) -> None: ...
    def delete_artifacts(self, run_id: str, ids: Sequence[str]) -> None: ...


class Receipts(Protocol):
    def claim(self, receipt: CallbackReceipt) -> ReceiptClaim:
        """Creates the receipt held by `receipt.owner`, or takes over one whose lease
        ran out by `receipt.received_at` (BUSY if another delivery takes it first)."""

    def find(self, callback_id: str) -> CallbackReceipt | None: ...
    def close(self, callback_id: str, state: ReceiptState) -> None:
        """Ends a receipt that is still PROCESSING; any other is left alone."""


class PurgeRetries(Protocol):
    def find(self, submission_id: str) -> PurgeRetry | None: ...
    def delete(self, submission_id: str) -> None: ...
    def put_off(self, submission_id: str, until: datetime, at: datetime) -> None:
        """Moves an existing retry's next attempt to `until`; none: nothing happens."""

    def due(self, now: datetime, limit: int) -> list[PurgeRetry]:
        """PENDING retries due by `now`, the longest-waiting first."""

    def all(self, state: PurgeRetryState | None = None) -> list[PurgeRetry]:
        """Oldest change first."""

    def among(self, submission_ids: Sequence[str]) -> set[str]: ...


class Sweeps(Protocol):
    """What the purge sweep reads and marks, a page at a time."""

    def expired_submissions(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[SubmissionToPurge], Any]:
        """Content expired by `at`, not purged, oldest expiry first; the cursor to the
        next page (None when no more follow)."""

    def runs_of(self, submissions: Sequence[SubmissionToPurge]) -> dict[str, list[RunToPurge]]: ...
    def mark_purged_unless_changed(
        self, marks: Sequence[tuple[SubmissionToPurge, Sequence[RunToPurge]]], at: datetime
    ) -> bool:
        """All marked in one commit, or none (False) if one changed since it was read."""

    def expired_outputs(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[RunToPurge], Any]: ...
    def mark_outputs_purged(self, runs: Sequence[RunToPurge], at: datetime) -> int:
        """Marks each run unless it changed since read; returns how many were marked."""


class Uploads(Protocol):
    def event_id(self, bucket: str, name: str, generation: int) -> str: ...
    def find_event(self, event_id: str) -> UploadEvent | None: ...
    def get_event(self, org_id: str, event_id: str) -> UploadEvent: ...
    def record_event(self, event: UploadEvent) -> bool:
        """False when a concurrent delivery recorded it first."""

    def find_granted(self, org_id: str, upload_id: str) -> UploadEvent | None:
        """What the object sent through grant `upload_id` became (accepted, else the
        refusal); None until seen, and for another org's grant."""

    def record_grant(self, grant: UploadGrant) -> None: ...
    def find_grant(self, upload_id: str) -> UploadGrant | None: ...
    def add_uploader(self, uploader: Uploader) -> bool:
        """False when the member already was one."""

    def remove_uploader(self, org_id: str, member: str) -> bool: ...
    def uploaders(self, org_id: str, limit: int | None = None) -> list[Uploader]: ...
    def has_uploaders(self, org_id: str) -> bool: ...


class UploadInputs(Protocol):
    """Submissions whose input is still an object in the uploads bucket (a migration)."""

    def under(
        self, root_uri: str, limit: int, after: Any = None
    ) -> tuple[list[StoredInput], Any]: ...
    def find(self, submission_id: str) -> StoredInput | None: ...
    def repoint(self, read: StoredInput, input_file: str) -> bool:
        """False, and nothing written, when the submission changed since `read`."""


class Audit(Protocol):
    """The org's audit log: appended to, never changed, never expired."""

    def append(self, entry: AuditEntry) -> bool:
        """False when an entry with its id is already there (a retried change): the
        first one stands."""

    def page(
        self,
        org_id: str,
        *,
        action: AuditAction | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> Page[AuditEntry]:
        """Newest first (ties by id, descending); a token from another org or list is a
        BadRequest."""


# What a change of membership must keep true, checked in the change's transaction.
MemberGuard = Callable[[Member, list[Member]], None]


class Members(Protocol):
    """An org's people (decision record 0068). Emails come as `Member` normalises them;
    a member is keyed by (org, email), so two concurrent adds of one person collide."""

    def add(self, member: Member) -> bool:
        """False, and nothing written, when the person already is a member."""

    def get(self, org_id: str, email: str) -> Member | None: ...
    def all(self, org_id: str) -> list[Member]:
        """By email."""

    def remove(self, org_id: str, email: str, guard: MemberGuard | None = None) -> bool:
        """False when the person was not a member. `guard(member, everyone)` (the org's
        members as the same transaction reads them) runs first and may raise to refuse:
        two concurrent changes cannot both pass it on what the other changes."""

    def orgs_of(self, email: str) -> list[str]:
        """The ids of the orgs the person is a member of, sorted."""

    def set_role(
        self, org_id: str, email: str, role: Role, guard: MemberGuard | None = None
    ) -> Member:
        """The member with its new role; NotFound when the person is not a member;
        `guard` as for `remove`."""


class Badges(Protocol):
    """Workflows' public status badges, keyed by their tokens (README, "Status
    badges"): a workflow has at most one."""

    def find(self, token: str) -> Badge | None:
        """One read by key; None for a token that names no badge (or never did)."""

    def of_workflow(self, org_id: str, slug: str) -> Badge | None: ...
    def enable(self, badge: Badge) -> tuple[Badge, bool]:
        """Makes `badge` the workflow's unless it has one already: the badge that
        stands, and whether it is `badge` (two concurrent calls make one)."""

    def disable(self, org_id: str, slug: str) -> Badge | None:
        """Deletes the workflow's badge, its token then naming nothing; the badge
        deleted, or None when there was none."""


class Evidence(Protocol):
    """Finished runs' evidence manifests: written once by the transaction that ends the
    run (`UnitOfWork.record_evidence`), never changed, never purged (decision 0085)."""

    def find(self, org_id: str, run_id: str) -> Manifest | None:
        """None for a run without one, and for another org's run."""


class Credentials(Protocol):
    """Runs' signed credentials (decision record 0086): issued once, never changed,
    never purged."""

    def find(self, org_id: str, run_id: str) -> IssuedCredential | None:
        """None for a run without one, and for another org's run."""

    def keep(self, credential: IssuedCredential) -> IssuedCredential:
        """Stores the run's credential unless it has one, and answers the one stored:
        of two first requests signing at once, one credential stands for both."""


class SigningKeys(Protocol):
    """Every public key that ever signed a credential, kept for ever (decision 0086)."""

    def all(self) -> list[SigningKey]:
        """Each key, oldest first use first."""

    def keep(self, key: SigningKey) -> None:
        """Stores a key by its kid; one already stored stays as it was."""


class Webhooks(Protocol):
    """An org's webhooks and their delivery attempts (decision record 0087)."""

    def create(self, hook: Webhook) -> None: ...
    def find(self, org_id: str, webhook_id: str) -> Webhook | None:
        """None for a missing webhook and for another org's."""

    def all(self, org_id: str) -> list[Webhook]:
        """The org's webhooks, oldest first."""

    def save(self, hook: Webhook) -> None: ...
    def delete(self, org_id: str, webhook_id: str) -> bool:
        """Whether there was one to delete (its attempts go with it)."""

    def claim_attempt(self, attempt: DeliveryAttempt) -> bool:
        """Creates the attempt's record; False when one of its id exists (a duplicate
        dispatch of the same try)."""

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Writes what a claimed attempt came to."""

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        """Whether an attempt of this event at this webhook got a 2xx."""

    def attempts(self, org_id: str, webhook_id: str, limit: int) -> list[DeliveryAttempt]:
        """The webhook's latest attempts, newest first."""


class Repositories(Protocol):
    """Every repository, and the units of work that span them."""

    @property
    def orgs(self) -> Orgs: ...
    @property
    def keys(self) -> Keys: ...
    @property
    def workflows(self) -> Workflows: ...
    @property
    def resources(self) -> Resources: ...
    @property
    def submissions(self) -> Submissions: ...
    @property
    def runs(self) -> Runs: ...
    @property
    def findings(self) -> Findings: ...
    @property
    def receipts(self) -> Receipts: ...
    @property
    def purge_retries(self) -> PurgeRetries: ...
    @property
    def sweeps(self) -> Sweeps: ...
    @property
    def uploads(self) -> Uploads: ...
    @property
    def upload_inputs(self) -> UploadInputs: ...
    @property
    def members(self) -> Members: ...
    @property
    def audit(self) -> Audit: ...
    @property
    def badges(self) -> Badges: ...
    @property
    def evidence(self) -> Evidence: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def signing_keys(self) -> SigningKeys: ...
    @property
    def webhooks(self) -> Webhooks: ...

    def transact(self, fn: Callable[[UnitOfWork], T], max_attempts: int = 10) -> T:
        """Runs `fn` in a transaction (again on contention), then the effects the
        committed attempt registered. Contention that outlasts the attempts is
        Transient."""

    def batch(self) -> WriteBatch: ...
