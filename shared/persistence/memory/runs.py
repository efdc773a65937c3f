"""Submissions, runs and their findings and artifacts in memory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from shared.domain.enums import RunResult, RunStatus
from shared.domain.models import Artifact, Finding, IdempotencyRecord, Submission, ValidationRun
from shared.persistence.memory import reads
from shared.persistence.memory.pages import page_of, token_doc
from shared.persistence.memory.store import (
    IDEMPOTENCY_KEYS,
    RUNS,
    SUBMISSIONS,
    Store,
    artifacts_of,
    copy_out,
    delete,
    findings_of,
    put,
)
from shared.persistence.ports import Page

IN_FLIGHT = (RunStatus.PENDING, RunStatus.RUNNING)
WITH_RESULT = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT)


class MemorySubmissions:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def get(self, org_id: str, submission_id: str) -> Submission:
        return reads.owned(
            self._reader, SUBMISSIONS, Submission, org_id, submission_id, "submission"
        )

    def find(self, submission_id: str | None) -> Submission | None:
        return reads.find_submission(self._reader, submission_id)

    def by_id(self, submission_ids: Sequence[str]) -> dict[str, Submission | None]:
        with self._store.lock:  # one read, as Firestore's get_all is
            return reads.submissions_by_id(self._reader, submission_ids)

    def idempotency(self, record_id: str) -> IdempotencyRecord | None:
        stored = self._store.get(IDEMPOTENCY_KEYS, record_id)
        if stored is None:
            return None
        record = copy_out(stored, IdempotencyRecord)
        record.updated = stored.version
        return record


def _newest_first(run: ValidationRun) -> tuple[datetime, str]:
    return run.created_at, run.id


class MemoryRuns:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def get(self, org_id: str, run_id: str) -> ValidationRun:
        return reads.owned(self._reader, RUNS, ValidationRun, org_id, run_id, "run")

    def find(self, run_id: str) -> ValidationRun | None:
        return reads.find_run(self._reader, run_id)

    def page(
        self,
        org_id: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> Page[ValidationRun]:
        """Newest first, ties by id descending."""
        with self._store.lock:
            after = token_doc(self._store, RUNS, org_id, page_token) if page_token else None
            runs = [
                r
                for r, _ in self._store.models(RUNS, ValidationRun)
                if r.org_id == org_id
                and (not status or r.status == status)
                and (not workflow or r.workflow_slug == workflow)
            ]
        runs.sort(key=_newest_first, reverse=True)
        return page_of(runs, _newest_first, limit, after, descending=True)

    def to_reconcile(self, at: datetime, limit: int) -> list[ValidationRun]:
        """Most overdue first (ties by id)."""
        due = [
            r
            for r, _ in self._store.models(RUNS, ValidationRun)
            if r.reconcile_at is not None and r.reconcile_at <= at
        ]
        due.sort(key=lambda r: (r.reconcile_at, r.id))
        return [r.model_copy(deep=True) for r in due[:limit]]

    def of(self, submissions: dict[str, Submission | None]) -> dict[str, list[ValidationRun]]:
        with self._store.lock:
            return reads.runs_of(self._reader, submissions)

    def of_submissions(self, submission_ids: Sequence[str]) -> dict[str, list[ValidationRun]]:
        return reads.runs_of_submissions(self._reader, submission_ids)

    def in_flight(self, org_id: str, most: int) -> int:
        runs = self._store.models(RUNS, ValidationRun)
        count = sum(1 for r, _ in runs if r.org_id == org_id and r.status in IN_FLIGHT)
        return min(count, most)

    def latest_result(self, org_id: str, workflow_slug: str) -> RunResult | None:
        ended = [
            r
            for r, _ in self._store.models(RUNS, ValidationRun)
            if r.org_id == org_id
            and r.workflow_slug == workflow_slug
            and r.status in WITH_RESULT
            and r.ended_at is not None
        ]
        # Firestore's order: the newest end first, ties by document name descending.
        newest = max(ended, key=lambda r: (r.ended_at, r.id), default=None)
        return None if newest is None else newest.result


def _by_step(finding: Finding) -> tuple[int, int, str]:
    return finding.step_order, finding.index, finding.id


class MemoryFindings:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._runs = MemoryRuns(store)

    def write(self, run_id: str, findings: Iterable[Finding]) -> int:
        writes = [put(findings_of(run_id), f.id, f) for f in findings]
        if writes:
            self._store.commit(writes)
        return len(writes)

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
        self._runs.get(org_id, run_id)
        folder = findings_of(run_id)
        with self._store.lock:
            after = token_doc(self._store, folder, org_id, page_token) if page_token else None
            found = [
                f
                for f, _ in self._store.models(folder, Finding)
                if not severity or f.severity == severity
            ]
        found.sort(key=_by_step)
        return page_of(found, _by_step, limit, after)

    def count(self, run_id: str) -> int:
        return len(self._store.scan(findings_of(run_id)))

    def delete(self, run_id: str, ids: Sequence[str]) -> None:
        self._delete(findings_of(run_id), ids)

    def write_artifacts(self, run_id: str, artifacts: Iterable[Artifact]) -> None:
        writes = [put(artifacts_of(run_id), a.id, a) for a in artifacts]
        if writes:
            self._store.commit(writes)

    def delete_artifacts(self, run_id: str, ids: Sequence[str]) -> None:
        self._delete(artifacts_of(run_id), ids)

    def _delete(self, folder: str, ids: Sequence[str]) -> None:
        if ids:
            self._store.commit([delete(folder, doc_id) for doc_id in ids])
