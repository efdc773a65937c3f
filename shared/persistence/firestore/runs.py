"""Validation runs: read by the org, listed newest first a page at a time, found by the
reconcile pass when overdue, and counted while in flight (admission)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.enums import ErrorCategory, RunResult, RunStatus
from shared.domain.models import Submission, ValidationRun
from shared.domain.state import derive_result
from shared.persistence.firestore.documents import IN_LIMIT, RUNS, Collections, from_snapshot
from shared.persistence.ports import Page

IN_FLIGHT = [RunStatus.PENDING.value, RunStatus.RUNNING.value]
# The ends that say something of the files (a cancel does not).
WITH_RESULT = [RunStatus.SUCCEEDED.value, RunStatus.FAILED.value, RunStatus.TIMED_OUT.value]


class FirestoreRuns(Collections):
    def get(self, org_id: str, run_id: str) -> ValidationRun:
        return self.owned(RUNS, ValidationRun, org_id, run_id, "run")

    def find(self, run_id: str, transaction: Any = None) -> ValidationRun | None:
        """A run by id alone, for the private functions that are handed a run id."""
        if not run_id or "/" in run_id:
            return None
        snap = self.db.collection(RUNS).document(run_id).get(transaction=transaction)
        return from_snapshot(ValidationRun, snap) if snap.exists else None

    def page(
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
        query = self.after(query, RUNS, org_id, page_token)
        return self.paged(ValidationRun, list(query.limit(limit + 1).stream()), limit)

    def to_reconcile(self, at: datetime, limit: int) -> list[ValidationRun]:
        """Runs whose next expected event is overdue at `at`, most overdue first."""
        query = (
            self.db.collection(RUNS)
            .where(filter=FieldFilter("reconcile_at", "<=", at))
            .order_by("reconcile_at")
            .limit(limit)
        )
        return [from_snapshot(ValidationRun, snap) for snap in query.stream()]

    def of(
        self, submissions: dict[str, Submission | None], transaction: Any = None
    ) -> dict[str, list[ValidationRun]]:
        """The runs of each submission: read by id in one call where the record lists
        them, by query for the rest (records from before `run_ids`, or gone)."""
        listed = {sid: s.run_ids for sid, s in submissions.items() if s is not None and s.run_ids}
        refs = [self.db.collection(RUNS).document(rid) for ids in listed.values() for rid in ids]
        snaps = self.db.get_all(refs, transaction=transaction) if refs else []
        found = {s.id: from_snapshot(ValidationRun, s) for s in snaps if s.exists}
        runs = {sid: [found[rid] for rid in ids if rid in found] for sid, ids in listed.items()}
        rest = [sid for sid in submissions if sid not in listed]
        return runs | (self.of_submissions(rest, transaction) if rest else {})

    def of_submissions(
        self, submission_ids: Sequence[str], transaction: Any = None
    ) -> dict[str, list[ValidationRun]]:
        """The runs of many submissions, a query per IN_LIMIT of them."""
        found: dict[str, list[ValidationRun]] = {sid: [] for sid in submission_ids}
        for start in range(0, len(submission_ids), IN_LIMIT):
            chunk = list(submission_ids[start : start + IN_LIMIT])
            query = self.db.collection(RUNS).where(filter=FieldFilter("submission_id", "in", chunk))
            snaps = query.get(transaction=transaction) if transaction else query.stream()
            for snap in snaps:
                run = from_snapshot(ValidationRun, snap)
                found[run.submission_id or ""].append(run)
        return found

    def in_flight(self, org_id: str, most: int) -> int:
        """The org's runs not yet ended (queued, or running as a job or inline), up to
        `most`. A count costs one read per 1,000 index entries it passes, at most `most`
        of them, however deep an org's backlog is."""
        query: Any = (
            self.db.collection(RUNS)
            .where(filter=FieldFilter("org_id", "==", org_id))
            .where(filter=FieldFilter("status", "in", IN_FLIGHT))
            .limit(most)
        )
        result = query.count().get()
        return int(result[0][0].value)

    def latest_result(self, org_id: str, workflow_slug: str) -> RunResult | None:
        """The newest ended run's result: one document's three fields (a status
        badge's read, public and frequent, so it reads no steps or config)."""
        query = (
            self.db.collection(RUNS)
            .where(filter=FieldFilter("org_id", "==", org_id))
            .where(filter=FieldFilter("workflow_slug", "==", workflow_slug))
            .where(filter=FieldFilter("status", "in", WITH_RESULT))
            .order_by("ended_at", direction=firestore.Query.DESCENDING)
            .select(["status", "error_category", "ended_at"])
            .limit(1)
        )
        for snap in query.stream():
            category = snap.get("error_category")
            return derive_result(
                RunStatus(snap.get("status")), category and ErrorCategory(category)
            )
        return None
