"""Repositories over Firestore. Every read of an org's object goes through one
tenancy check: a document of another org is reported exactly like a missing one."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.enums import ReceiptClaim, ReceiptState
from shared.domain.models import (
    FIRESTORE,
    ApiKey,
    Artifact,
    CallbackReceipt,
    Finding,
    IdempotencyRecord,
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
from shared.persistence.unit_of_work import Batch, Transaction, translated
from shared.platform.errors import BadRequest, NotFound, Transient
from shared.platform.ids import is_doc_id, stable_id

if TYPE_CHECKING:
    # The purge sweep's alone, loaded on use: only the purge function, which sweeps on
    # every call, loads them at its start (functions/handlers/purge.py).
    from shared.persistence.purge_records import RunToPurge, SubmissionToPurge
    from shared.persistence.upload_inputs import UploadInputs
    from shared.persistence.uploaders import UploadAccess

M = TypeVar("M", bound=Model)
T = TypeVar("T")

ORGS = "orgs"
PROJECTS = "projects"
API_KEYS = "api_keys"
WORKFLOWS = "workflows"
VERSIONS = "versions"
SUBMISSIONS = "submissions"
RUNS = "runs"
FINDINGS = "findings"
ARTIFACTS = "artifacts"
CALLBACK_RECEIPTS = "callback_receipts"
IDEMPOTENCY_KEYS = "idempotency_keys"
PURGE_RETRIES = "purge_retries"
UPLOAD_EVENTS = "upload_events"
UPLOAD_GRANTS = "upload_grants"
RESOURCES = "workflow_resources"

# Firestore commits at most 500 writes at once.
BATCH_LIMIT = 500
# and a request of at most 10 MiB (the emulator's gRPC takes 4 MiB): a batch of writes is
# committed before its documents' estimated size (_doc_bytes) passes this, which leaves
# room for the request's own framing under either.
BATCH_BYTES = 3 * 1024 * 1024
# An `in` filter takes at most 30 values.
IN_LIMIT = 30


def to_doc(model: Model) -> dict[str, Any]:
    return model.model_dump(mode="python", exclude={"id"}, context=FIRESTORE)


def from_snapshot(cls: type[M], snap: Any) -> M:
    data = snap.to_dict() or {}
    if "id" in cls.model_fields:
        data["id"] = snap.id
    return cls.model_validate(data)


def _doc_bytes(value: Any) -> int:
    """A generous estimate of a value's size in a write request: Firestore's storage
    size (strings as UTF-8 plus one, numbers eight) and a few bytes of framing a field."""
    if isinstance(value, str):
        return len(value.encode()) + 8
    if isinstance(value, dict):
        return 32 + sum(_doc_bytes(k) + _doc_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 32 + sum(_doc_bytes(v) for v in value)
    if isinstance(value, bytes):
        return len(value) + 8
    return 16


def encode_token(doc_id: str) -> str:
    return base64.urlsafe_b64encode(doc_id.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"page_token {token[:64]!r} is not a token this API issued") from exc


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


def _raw(transaction: Transaction | None) -> Any:
    """The Firestore transaction inside a unit of work (None reads outside one)."""
    return None if transaction is None else transaction.raw


# Where each aggregate a unit of work writes lives, and the field that keys it.
_HOMES: dict[type[Model], tuple[str, str]] = {
    ValidationRun: (RUNS, "id"),
    Submission: (SUBMISSIONS, "id"),
    Workflow: (WORKFLOWS, "id"),
    PurgeRetry: (PURGE_RETRIES, "submission_id"),
    CallbackReceipt: (CALLBACK_RECEIPTS, "id"),
    IdempotencyRecord: (IDEMPOTENCY_KEYS, "id"),
}


def _committed_unless_changed(batch: Any) -> bool:
    """Commits a batch of conditional writes: False, and nothing written, when one of
    its documents changed (or went) since it was read."""
    try:
        batch.commit()
    except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
        return False
    return True


class Repositories:
    def __init__(self, client: firestore.Client) -> None:
        self.db = client

    # -- generic ---------------------------------------------------------------
    def _owned(self, collection: str, cls: type[M], org_id: str, doc_id: str, what: str) -> M:
        if not doc_id or "/" in doc_id:
            raise NotFound(f"{what} {doc_id!r} does not exist in organization {org_id!r}")
        snap = self.db.collection(collection).document(doc_id).get()
        if not snap.exists or (snap.get("org_id") != org_id):
            raise NotFound(f"{what} {doc_id!r} does not exist in organization {org_id!r}")
        return from_snapshot(cls, snap)

    # -- organizations, projects, keys -------------------------------------------
    def create_org(self, org: Organization) -> None:
        self.db.collection(ORGS).document(org.id).create(to_doc(org))

    def get_org(self, org_id: str) -> Organization | None:
        if not org_id or "/" in org_id:
            return None
        snap = self.db.collection(ORGS).document(org_id).get()
        return from_snapshot(Organization, snap) if snap.exists else None

    def create_project(self, project: Project) -> None:
        self.db.collection(PROJECTS).document(project.id).create(to_doc(project))

    def get_project(self, org_id: str, project_id: str) -> Project:
        return self._owned(PROJECTS, Project, org_id, project_id, "project")

    def create_api_key(self, key: ApiKey) -> None:
        self.db.collection(API_KEYS).document(key.id).create(to_doc(key))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        if not key_id or "/" in key_id:
            return None
        snap = self.db.collection(API_KEYS).document(key_id).get()
        return from_snapshot(ApiKey, snap) if snap.exists else None

    def save_api_key(self, key: ApiKey) -> None:
        self.db.collection(API_KEYS).document(key.id).set(to_doc(key))

    def list_api_keys(self, org_id: str) -> list[ApiKey]:
        query = self.db.collection(API_KEYS).where(filter=FieldFilter("org_id", "==", org_id))
        keys = [from_snapshot(ApiKey, snap) for snap in query.stream()]
        return sorted(keys, key=lambda k: k.created_at)

    def touch_api_key(self, key_id: str, at: datetime) -> None:
        self.db.collection(API_KEYS).document(key_id).update({"last_used_at": at})

    def revoke_api_key(self, org_id: str, key_id: str, at: datetime) -> ApiKey:
        """Revokes the key (the first revocation's time stands). Another org's key is a 404."""
        ref = self.db.collection(API_KEYS).document(key_id)

        def revoke(transaction: Transaction) -> ApiKey:
            snap = ref.get(transaction=transaction.raw)
            if not snap.exists or snap.get("org_id") != org_id:
                raise NotFound(f"API key {key_id!r} not found")
            key = from_snapshot(ApiKey, snap)
            if key.revoked_at is None:
                key.revoked_at = at
                transaction.raw.update(ref, {"revoked_at": at})
            return key

        revoked: ApiKey = self.transact(revoke)
        return revoked

    # -- workflows -------------------------------------------------------------
    @staticmethod
    def workflow_id(org_id: str, slug: str) -> str:
        """Derived from (org, slug): two concurrent creates of one slug collide on commit,
        which a query cannot guarantee (Firestore does not lock a document's absence)."""
        return stable_id(org_id, "workflow", slug, length=20)

    def workflow_ref(self, workflow_id: str) -> Any:
        return self.db.collection(WORKFLOWS).document(workflow_id)

    def find_workflow(
        self, org_id: str, slug: str, transaction: Transaction | None = None
    ) -> Workflow | None:
        snap = self.workflow_ref(self.workflow_id(org_id, slug)).get(transaction=_raw(transaction))
        if not snap.exists or snap.get("org_id") != org_id:
            return None
        return from_snapshot(Workflow, snap)

    def get_workflow(self, org_id: str, slug: str) -> Workflow:
        workflow = self.find_workflow(org_id, slug)
        if workflow is None:
            raise NotFound(f"workflow {slug!r} does not exist in organization {org_id!r}")
        return workflow

    def list_workflows(self, org_id: str) -> list[Workflow]:
        query = self.db.collection(WORKFLOWS).where(filter=FieldFilter("org_id", "==", org_id))
        return sorted((from_snapshot(Workflow, s) for s in query.stream()), key=lambda w: w.slug)

    def version_ref(self, workflow_id: str, version: int) -> Any:
        return (
            self.db.collection(WORKFLOWS)
            .document(workflow_id)
            .collection(VERSIONS)
            .document(str(version))
        )

    def get_version(
        self, workflow: Workflow, version: int | None = None, transaction: Transaction | None = None
    ) -> WorkflowVersion:
        number = workflow.latest_version if version is None else version
        snap = self.version_ref(workflow.id, number).get(transaction=_raw(transaction))
        if not snap.exists:
            raise NotFound(f"workflow {workflow.slug!r} has no version {number}")
        return from_snapshot(WorkflowVersion, snap)

    # -- submissions and runs ----------------------------------------------------
    def submission_ref(self, submission_id: str) -> Any:
        return self.db.collection(SUBMISSIONS).document(submission_id)

    def run_ref(self, run_id: str) -> Any:
        return self.db.collection(RUNS).document(run_id)

    def get_submission(self, org_id: str, submission_id: str) -> Submission:
        return self._owned(SUBMISSIONS, Submission, org_id, submission_id, "submission")

    def find_submission(
        self, submission_id: str | None, transaction: Transaction | None = None
    ) -> Submission | None:
        """The submission or None: a run must stay readable after its submission is gone."""
        if not submission_id:
            return None
        snap = self.submission_ref(submission_id).get(transaction=_raw(transaction))
        return from_snapshot(Submission, snap) if snap.exists else None

    def get_run(self, org_id: str, run_id: str) -> ValidationRun:
        return self._owned(RUNS, ValidationRun, org_id, run_id, "run")

    def find_run(self, run_id: str, transaction: Transaction | None = None) -> ValidationRun | None:
        """A run by id alone, for the private functions that are handed a run id."""
        if not run_id or "/" in run_id:
            return None
        snap = self.run_ref(run_id).get(transaction=_raw(transaction))
        return from_snapshot(ValidationRun, snap) if snap.exists else None

    def list_runs(
        self,
        org_id: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> Page[ValidationRun]:
        query = self.db.collection(RUNS).where(filter=FieldFilter("org_id", "==", org_id))
        if status:
            query = query.where(filter=FieldFilter("status", "==", status))
        if workflow:
            query = query.where(filter=FieldFilter("workflow_slug", "==", workflow))
        query = query.order_by("created_at", direction=firestore.Query.DESCENDING).order_by(
            "__name__", direction=firestore.Query.DESCENDING
        )
        query = self._after(query, RUNS, org_id, page_token)
        snaps = list(query.limit(limit + 1).stream())
        return self._page(ValidationRun, snaps, limit)

    def _after(self, query: Any, collection_path: str, org_id: str, token: str | None) -> Any:
        if not token:
            return query
        doc_id = decode_token(token)
        snap = self.db.document(f"{collection_path}/{doc_id}").get() if is_doc_id(doc_id) else None
        if snap is None or not snap.exists or snap.get("org_id") != org_id:
            raise BadRequest(f"page_token {token[:64]!r} is not a token this API issued")
        return query.start_after(snap)

    @staticmethod
    def _page(cls: type[M], snaps: Sequence[Any], limit: int) -> Page[M]:
        more = len(snaps) > limit
        kept = list(snaps[:limit])
        token = encode_token(kept[-1].id) if more and kept else None
        return Page([from_snapshot(cls, s) for s in kept], token)

    def runs_to_reconcile(self, at: datetime, limit: int) -> list[ValidationRun]:
        """Runs whose next expected event is overdue at `at`, most overdue first."""
        query = (
            self.db.collection(RUNS)
            .where(filter=FieldFilter("reconcile_at", "<=", at))
            .order_by("reconcile_at")
            .limit(limit)
        )
        return [from_snapshot(ValidationRun, snap) for snap in query.stream()]

    def add_run(self, transaction: Transaction, submission_id: str, run_id: str) -> None:
        """Records a new run of the submission (in the transaction that creates it)."""
        transaction.raw.update(
            self.submission_ref(submission_id),
            {"latest_run_id": run_id, "run_ids": firestore.ArrayUnion([run_id])},
        )

    def runs_of(
        self, submissions: dict[str, Submission | None], transaction: Transaction | None = None
    ) -> dict[str, list[ValidationRun]]:
        """The runs of each submission: read by id in one call where the record lists
        them, by query for the rest (records from before `run_ids`, or gone)."""
        listed = {sid: s.run_ids for sid, s in submissions.items() if s is not None and s.run_ids}
        refs = [self.run_ref(rid) for ids in listed.values() for rid in ids]
        snaps = self.db.get_all(refs, transaction=_raw(transaction)) if refs else []
        found = {s.id: from_snapshot(ValidationRun, s) for s in snaps if s.exists}
        runs = {sid: [found[rid] for rid in ids if rid in found] for sid, ids in listed.items()}
        rest = [sid for sid in submissions if sid not in listed]
        return runs | (self.runs_of_submissions(rest, transaction) if rest else {})

    def runs_of_submissions(
        self, submission_ids: Sequence[str], transaction: Transaction | None = None
    ) -> dict[str, list[ValidationRun]]:
        """The runs of many submissions, a query per IN_LIMIT of them."""
        found: dict[str, list[ValidationRun]] = {sid: [] for sid in submission_ids}
        for start in range(0, len(submission_ids), IN_LIMIT):
            chunk = list(submission_ids[start : start + IN_LIMIT])
            query = self.db.collection(RUNS).where(filter=FieldFilter("submission_id", "in", chunk))
            snaps = query.get(transaction=_raw(transaction)) if transaction else query.stream()
            for snap in snaps:
                run = from_snapshot(ValidationRun, snap)
                found[run.submission_id or ""].append(run)
        return found

    def submissions_by_id(
        self, submission_ids: Sequence[str], transaction: Transaction | None = None
    ) -> dict[str, Submission | None]:
        """Each of `submission_ids` (None for one that is gone), read in one call."""
        refs = [self.submission_ref(sid) for sid in submission_ids]
        snaps = self.db.get_all(refs, transaction=_raw(transaction)) if refs else []
        found = {s.id: from_snapshot(Submission, s) for s in snaps if s.exists}
        return {sid: found.get(sid) for sid in submission_ids}

    def purge_retries_among(self, submission_ids: Sequence[str]) -> set[str]:
        """Which of `submission_ids` have a PurgeRetry, in one read."""
        refs = [self.purge_retry_ref(sid) for sid in submission_ids]
        return {s.id for s in self.db.get_all(refs) if s.exists} if refs else set()

    def hand_to_retry(self, transaction: Transaction, submission_id: str, at: datetime) -> None:
        """Notes on the submission, in the transaction that creates its PurgeRetry, that
        the retry function has it now. Reads first: a submission may be gone."""
        ref = self.submission_ref(submission_id)
        snap = ref.get(transaction=transaction.raw, field_paths=["purge_retry_since"])
        if snap.exists and (snap.to_dict() or {}).get("purge_retry_since") is None:
            transaction.raw.update(ref, {"purge_retry_since": at})

    def purge_retry_ref(self, submission_id: str) -> Any:
        return self.db.collection(PURGE_RETRIES).document(submission_id)

    def delete_purge_retry(self, submission_id: str) -> None:
        self.purge_retry_ref(submission_id).delete()

    def put_off_purge_retry(self, submission_id: str, until: datetime, at: datetime) -> None:
        """Moves an existing retry's next attempt to `until` (none: nothing to put off)."""
        with contextlib.suppress(gexc.NotFound):
            self.purge_retry_ref(submission_id).update({"next_retry_at": until, "updated_at": at})

    def find_purge_retry(self, submission_id: str) -> PurgeRetry | None:
        snap = self.purge_retry_ref(submission_id).get()
        return from_snapshot(PurgeRetry, snap) if snap.exists else None

    def due_purge_retries(self, now: datetime, limit: int) -> list[PurgeRetry]:
        """PENDING retries whose time has come, the longest-waiting first."""
        query = (
            self.db.collection(PURGE_RETRIES)
            .where(filter=FieldFilter("state", "==", PurgeRetryState.PENDING.value))
            .where(filter=FieldFilter("next_retry_at", "<=", now))
            .order_by("next_retry_at")
            .limit(limit)
        )
        return [from_snapshot(PurgeRetry, s) for s in query.stream()]

    def purge_retries(self, state: PurgeRetryState | None = None) -> list[PurgeRetry]:
        """Every retry record, or those in `state`, oldest change first."""
        query: Any = self.db.collection(PURGE_RETRIES)
        if state is not None:
            query = query.where(filter=FieldFilter("state", "==", state.value))
        return sorted(
            (from_snapshot(PurgeRetry, s) for s in query.stream()), key=lambda r: r.updated_at
        )

    def expired_submissions(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[SubmissionToPurge], Any]:
        """Submissions whose content expired by `at`, a page at a time: pass the cursor
        returned with one page to get the next (None when there is no more)."""
        from shared.persistence.purge_records import SUBMISSION_FIELDS, SubmissionToPurge

        page, cursor = self._expired_page(
            SUBMISSIONS, "expires_at", SUBMISSION_FIELDS, at, limit, after
        )
        return [SubmissionToPurge.of(s) for s in page], cursor

    def _expired_page(
        self, collection: str, field: str, fields: list[str], at: datetime, limit: int, after: Any
    ) -> tuple[list[Any], Any]:
        """A page of the projections (`fields`, which must hold `field`: a cursor is made
        of what the page is ordered by) of the documents whose `field` is at or before
        `at`, after `after`, with the cursor to the next (None when no more follow)."""
        query = (
            self.db.collection(collection)
            .where(filter=FieldFilter(field, "<=", at))
            .order_by(field)
            .order_by("__name__")
            .select(fields)
        )
        if after is not None:
            query = query.start_after(after)
        # One more than a page says whether another follows, so the last page is not
        # followed by a query that finds nothing (about 0.1 s on the emulator).
        snaps = list(query.limit(limit + 1).stream())
        page = snaps[:limit]
        return page, page[-1] if len(snaps) > limit else None

    def runs_to_purge(
        self, submissions: Sequence[SubmissionToPurge]
    ) -> dict[str, list[RunToPurge]]:
        """The runs of each submission, as the purge needs them: by id in one call where
        the record lists them, by query for records from before `run_ids`."""
        from shared.persistence.purge_records import RUN_FIELDS, RunToPurge

        refs = [self.run_ref(rid) for s in submissions for rid in s.run_ids]
        snaps = self.db.get_all(refs, field_paths=RUN_FIELDS) if refs else []
        found = {s.id: RunToPurge.of(s) for s in snaps if s.exists}
        runs = {s.id: [found[rid] for rid in s.run_ids if rid in found] for s in submissions}
        unlisted = [s.id for s in submissions if not s.run_ids]
        for start in range(0, len(unlisted), IN_LIMIT):
            chunk = unlisted[start : start + IN_LIMIT]
            query = self.db.collection(RUNS).where(filter=FieldFilter("submission_id", "in", chunk))
            for snap in query.select(RUN_FIELDS).stream():
                run = RunToPurge.of(snap)
                runs[run.submission_id].append(run)
        return runs

    def mark_purged_unless_changed(
        self, marks: Sequence[tuple[SubmissionToPurge, Sequence[RunToPurge]]], at: datetime
    ) -> bool:
        """Marks each submission and its runs purged in one commit, on condition that
        none of them changed since it was read (a rerun changes its submission). False,
        and nothing written, when one did: the caller decides with a fresh read."""
        batch = self.db.batch()
        for submission, runs in marks:
            self.mark_submission_purged(batch, submission.id, at, submission.version)
            for run in runs:
                if not run.output_purged:
                    self.mark_run_purged(batch, run.id, at, run.version)
        return _committed_unless_changed(batch)

    def mark_submission_purged(
        self, writer: Any, submission_id: str, at: datetime, version: datetime | None = None
    ) -> None:
        """Clears the content and its expiry, keeping the rest of the record for audit.
        `writer` is a transaction or batch (None writes at once); `version`, the update
        time the record must still have."""
        self._update(
            writer,
            self.submission_ref(submission_id),
            {"content": "", "input_file": None, "content_purged_at": at, "expires_at": None},
            version,
        )

    def mark_run_purged(
        self, writer: Any, run_id: str, at: datetime, version: datetime | None = None
    ) -> None:
        self._update(
            writer,
            self.run_ref(run_id),
            {"output_purged_at": at, "output_expires_at": None},
            version,
        )

    def _update(self, writer: Any, ref: Any, fields: dict[str, Any], version: Any) -> None:
        option = None if version is None else self.db.write_option(last_update_time=version)
        if isinstance(writer, Transaction):
            writer = writer.raw
        if writer is None:
            ref.update(fields, option=option)
        else:
            writer.update(ref, fields, option=option)

    def expired_outputs(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[RunToPurge], Any]:
        """Runs whose execution bundle's retention ended by `at` and is not purged yet, a
        page at a time as `expired_submissions` gives them."""
        from shared.persistence.purge_records import OUTPUT_FIELDS, RunToPurge

        page, cursor = self._expired_page(
            RUNS, "output_expires_at", OUTPUT_FIELDS, at, limit, after
        )
        return [RunToPurge.of(s) for s in page], cursor

    def mark_outputs_purged(self, runs: Sequence[RunToPurge], at: datetime) -> int:
        """Marks the runs' bundles purged, a commit per BATCH_LIMIT, each on condition
        that its run did not change since it was read. When one did, that commit's runs
        are marked one by one, and one that changed is left for the next sweep to find
        again. Returns how many were marked."""
        marked = 0
        for start in range(0, len(runs), BATCH_LIMIT):
            chunk = runs[start : start + BATCH_LIMIT]
            batch = self.db.batch()
            for run in chunk:
                self.mark_run_purged(batch, run.id, at, run.version)
            if _committed_unless_changed(batch):
                marked += len(chunk)
                continue
            for run in chunk:
                with contextlib.suppress(gexc.FailedPrecondition, gexc.NotFound):
                    self.mark_run_purged(None, run.id, at, run.version)
                    marked += 1
        return marked

    # -- findings ----------------------------------------------------------------
    def write_findings(self, run_id: str, findings: Iterable[Finding]) -> int:
        """Writes findings in batches. Ids are deterministic, so a repeat overwrites."""
        docs = ((f.id, to_doc(f)) for f in findings)
        return self._set_batched(self.run_ref(run_id).collection(FINDINGS), docs)

    def _set_batched(self, collection: Any, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Sets each document under its id, a commit per BATCH_LIMIT writes or BATCH_BYTES,
        whichever comes first; reads `docs` as it goes, so they may be a generator."""
        batch = self.db.batch()
        pending = size = written = 0
        for doc_id, doc in docs:
            ref = collection.document(doc_id)
            doc_size = _doc_bytes(ref.path) + _doc_bytes(doc)
            if pending and (pending == BATCH_LIMIT or size + doc_size > BATCH_BYTES):
                batch.commit()
                written += pending
                batch, pending, size = self.db.batch(), 0, 0
            batch.set(ref, doc)
            pending, size = pending + 1, size + doc_size
        if pending:
            batch.commit()
            written += pending
        return written

    def list_findings(
        self,
        org_id: str,
        run_id: str,
        *,
        severity: str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[Finding]:
        self.get_run(org_id, run_id)  # tenancy: another org's run is a 404
        path = f"{RUNS}/{run_id}/{FINDINGS}"
        query: Any = self.db.collection(path)
        if severity:
            query = query.where(filter=FieldFilter("severity", "==", severity))
        query = query.order_by("step_order").order_by("index")
        query = self._after(query, path, org_id, page_token)
        return self._page(Finding, list(query.limit(limit + 1).stream()), limit)

    def count_findings(self, run_id: str) -> int:
        result = self.run_ref(run_id).collection(FINDINGS).count().get()
        return int(result[0][0].value)

    def write_artifacts(self, run_id: str, artifacts: Iterable[Artifact]) -> None:
        docs = ((a.id, to_doc(a)) for a in artifacts)
        self._set_batched(self.run_ref(run_id).collection(ARTIFACTS), docs)

    def _delete_ids(self, run_id: str, collection: str, ids: Sequence[str]) -> None:
        folder = self.run_ref(run_id).collection(collection)
        for start in range(0, len(ids), BATCH_LIMIT):
            batch = self.db.batch()
            for doc_id in ids[start : start + BATCH_LIMIT]:
                batch.delete(folder.document(doc_id))
            batch.commit()

    def delete_findings(self, run_id: str, ids: Sequence[str]) -> None:
        self._delete_ids(run_id, FINDINGS, ids)

    def delete_artifacts(self, run_id: str, ids: Sequence[str]) -> None:
        self._delete_ids(run_id, ARTIFACTS, ids)

    def transact(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        """Runs `fn(unit of work)` in a transaction, then the effects the committed attempt
        registered. Contention that outlasts the retries is reported as Transient (503,
        retry), not as an unexpected error."""
        from google.cloud import firestore as fs

        def attempt(raw: Any) -> tuple[T, Transaction]:
            tx = Transaction(self, raw)  # a retried attempt starts with no effects
            return fn(tx), tx

        try:
            with translated():
                done: tuple[T, Transaction] = fs.transactional(attempt)(
                    self.db.transaction(max_attempts=max_attempts)
                )
        except ValueError as exc:
            if "Failed to commit transaction" in str(exc):
                raise Transient(
                    "the record is busy with concurrent updates; retry shortly",
                    headers={"Retry-After": "1"},
                ) from exc
            raise
        result, tx = done
        for effect in tx.effects:
            effect()
        return result

    def batch(self) -> Batch:
        return Batch(self)

    def ref_of(self, cls: type[Model], key: str) -> Any:
        return self.db.collection(_HOMES[cls][0]).document(key)

    def home_of(self, model: Model) -> Any:
        """The document an aggregate is written to."""
        if isinstance(model, WorkflowVersion):
            return self.version_ref(model.workflow_id, model.version)
        return self.ref_of(type(model), str(getattr(model, _HOMES[type(model)][1])))

    @staticmethod
    def load(cls: type[M], snap: Any) -> M:
        return from_snapshot(cls, snap)

    # -- callbacks and idempotency -------------------------------------------------
    def receipt_ref(self, callback_id: str) -> Any:
        return self.db.collection(CALLBACK_RECEIPTS).document(callback_id)

    def find_receipt(
        self, callback_id: str, transaction: Transaction | None = None
    ) -> CallbackReceipt | None:
        snap = self.receipt_ref(callback_id).get(transaction=_raw(transaction))
        return from_snapshot(CallbackReceipt, snap) if snap.exists else None

    def claim_receipt(self, receipt: CallbackReceipt) -> ReceiptClaim:
        """Creates the receipt held by `receipt.owner`; or takes over one whose holder
        died (its lease ran out), unless another delivery takes it over first."""
        ref = self.receipt_ref(receipt.id)
        try:
            ref.create(to_doc(receipt))
            return ReceiptClaim.TAKEN
        except gexc.Conflict:
            pass
        snap = ref.get()
        existing = from_snapshot(CallbackReceipt, snap)
        if existing.state is not ReceiptState.PROCESSING:
            return ReceiptClaim.PROCESSED
        if existing.lease_expires_at and existing.lease_expires_at > receipt.received_at:
            return ReceiptClaim.BUSY
        try:
            ref.update(
                {"owner": receipt.owner, "lease_expires_at": receipt.lease_expires_at},
                option=self.db.write_option(last_update_time=snap.update_time),
            )
        except (gexc.FailedPrecondition, gexc.Conflict):
            return ReceiptClaim.BUSY
        return ReceiptClaim.TAKEN

    def close_receipt(self, callback_id: str, state: ReceiptState) -> None:
        """Ends a receipt that is still PROCESSING (a refused or abandoned delivery)."""
        ref = self.receipt_ref(callback_id)

        def close(transaction: Transaction) -> None:
            snap = ref.get(transaction=transaction.raw)
            if snap.exists and snap.get("state") == ReceiptState.PROCESSING.value:
                transaction.raw.update(ref, {"state": state.value})

        self.transact(close)

    def idempotency_ref(self, record_id: str) -> Any:
        return self.db.collection(IDEMPOTENCY_KEYS).document(record_id)

    def find_idempotency(self, record_id: str) -> IdempotencyRecord | None:
        snap = self.idempotency_ref(record_id).get()
        if not snap.exists:
            return None
        record = from_snapshot(IdempotencyRecord, snap)
        record.updated = snap.update_time
        return record

    # -- uploads -------------------------------------------------------------------
    @staticmethod
    def upload_event_id(bucket: str, name: str, generation: int) -> str:
        return stable_id(bucket, name, generation)

    # -- workflow resources ----------------------------------------------------------
    def resource_ref(self, org_id: str, slug: str, name: str) -> Any:
        return self.db.collection(RESOURCES).document(stable_id(org_id, slug, name))

    def find_resource(self, org_id: str, slug: str, name: str) -> WorkflowResource | None:
        snap = self.resource_ref(org_id, slug, name).get()
        return from_snapshot(WorkflowResource, snap) if snap.exists else None

    def save_resource(self, resource: WorkflowResource) -> None:
        self.resource_ref(resource.org_id, resource.workflow_slug, resource.name).set(
            to_doc(resource)
        )

    def delete_resource(self, org_id: str, slug: str, name: str) -> bool:
        ref = self.resource_ref(org_id, slug, name)
        if not ref.get().exists:
            return False
        ref.delete()
        return True

    def list_resources(self, org_id: str, slug: str) -> list[WorkflowResource]:
        query = (
            self.db.collection(RESOURCES)
            .where(filter=FieldFilter("org_id", "==", org_id))
            .where(filter=FieldFilter("workflow_slug", "==", slug))
        )
        found = [from_snapshot(WorkflowResource, snap) for snap in query.stream()]
        return sorted(found, key=lambda r: r.name)

    def upload_event_ref(self, event_id: str) -> Any:
        return self.db.collection(UPLOAD_EVENTS).document(event_id)

    def find_upload_event(self, event_id: str) -> UploadEvent | None:
        snap = self.upload_event_ref(event_id).get()
        return from_snapshot(UploadEvent, snap) if snap.exists else None

    def get_upload_event(self, org_id: str, event_id: str) -> UploadEvent:
        return self._owned(UPLOAD_EVENTS, UploadEvent, org_id, event_id, "upload")

    @property
    def upload_inputs(self) -> UploadInputs:
        """Submissions whose input is still an upload (the upload-inputs migration)."""
        from shared.persistence.upload_inputs import UploadInputs

        return UploadInputs(self.db)

    @property
    def uploads(self) -> UploadAccess:
        """Upload grants, uploaders and the commit of an accepted upload."""
        from shared.persistence.uploaders import UploadAccess

        return UploadAccess(self.db)

    def grant_ref(self, upload_id: str) -> Any:
        """Created with the one submission a signed-URL grant may make."""
        return self.db.collection(UPLOAD_GRANTS).document(upload_id)

    def find_granted_upload(self, org_id: str, upload_id: str) -> UploadEvent | None:
        """What the trigger made of the object sent through signed-URL grant `upload_id`
        (None until it has seen it, and for another org's grant)."""
        grant = self.grant_ref(upload_id).get()
        if grant.exists:  # the one it was accepted as
            event = self.find_upload_event(str(grant.get("event_id")))
        else:  # none accepted: the refusal, if any
            query = (
                self.db.collection(UPLOAD_EVENTS)
                .where(filter=FieldFilter("upload_id", "==", upload_id))
                .limit(1)
            )
            event = next((from_snapshot(UploadEvent, s) for s in query.stream()), None)
        return event if event is not None and event.org_id == org_id else None

    def record_upload_event(self, event: UploadEvent) -> bool:
        """Creates the record; False when a concurrent delivery created it first."""
        from google.api_core import exceptions

        try:
            self.upload_event_ref(event.id).create(to_doc(event))
        except exceptions.Conflict:
            return False
        return True

    def latest_versions(self, workflows: Sequence[Workflow]) -> list[WorkflowVersion]:
        """Each workflow's latest version, in order, read in one call (get_version's
        NotFound for one that is missing)."""
        refs = [self.version_ref(w.id, w.latest_version) for w in workflows]
        snaps = {s.reference.path: s for s in self.db.get_all(refs)} if refs else {}
        found = []
        for workflow, ref in zip(workflows, refs, strict=True):
            snap = snaps.get(ref.path)
            if snap is None or not snap.exists:
                raise NotFound(
                    f"workflow {workflow.slug!r} has no version {workflow.latest_version}"
                )
            found.append(from_snapshot(WorkflowVersion, snap))
        return found


def get_repositories() -> Repositories:
    from shared.persistence.firestore import get_client

    return Repositories(get_client())
