"""What the purge sweep and the upload-inputs migration read and mark, in memory. A
cursor is the (ordering value, id) of the last document of a page, as Firestore's
cursor of a snapshot is; a version is the commit that last wrote the document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from shared.domain.models import Submission, ValidationRun
from shared.persistence.memory import edits
from shared.persistence.memory.store import RUNS, SUBMISSIONS, Store, Write, fields, update
from shared.persistence.ports import RunToPurge, StoredInput, SubmissionToPurge
from shared.platform.errors import ChangedConcurrently, NotFound

Cursor = tuple[Any, str]


def _page(rows: list[tuple[Cursor, Any]], limit: int, after: Any) -> tuple[list[Any], Any]:
    """The rows after `after`, `limit` of them, and the cursor of the next page (None
    when no more follow)."""
    rows.sort(key=lambda row: row[0])
    if after is not None:
        rows = [row for row in rows if row[0] > after]
    page = rows[:limit]
    return [item for _, item in page], (page[-1][0] if len(rows) > limit else None)


def _to_purge(submission: Submission, version: int) -> SubmissionToPurge:
    return SubmissionToPurge(
        id=submission.id,
        org_id=submission.org_id,
        input_file=submission.input_file,
        run_ids=tuple(submission.run_ids),
        handed_to_retry=submission.purge_retry_since is not None,
        version=version,
    )


def _run_to_purge(run: ValidationRun, version: int) -> RunToPurge:
    return RunToPurge(
        id=run.id,
        org_id=run.org_id,
        submission_id=run.submission_id or "",
        status=run.status,
        output_purged=run.output_purged_at is not None,
        version=version,
    )


def _committed(store: Store, writes: Sequence[Write]) -> bool:
    try:
        store.commit(writes)
    except (ChangedConcurrently, NotFound):
        return False
    return True


class MemorySweeps:
    def __init__(self, store: Store) -> None:
        self._store = store

    def expired_submissions(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[SubmissionToPurge], Any]:
        """Content expired by `at` (a purged one has no expiry), oldest expiry first."""
        rows = [
            ((s.expires_at, s.id), _to_purge(s, version))
            for s, version in self._store.models(SUBMISSIONS, Submission)
            if s.expires_at is not None and s.expires_at <= at
        ]
        return _page(rows, limit, after)

    def runs_of(self, submissions: Sequence[SubmissionToPurge]) -> dict[str, list[RunToPurge]]:
        """By id where the record lists its runs, by query for the rest (by run id)."""
        with self._store.lock:
            runs = {s.id: [r for r in map(self._run, s.run_ids) if r] for s in submissions}
            unlisted = {s.id for s in submissions if not s.run_ids}
            for run, version in self._store.models(RUNS, ValidationRun):
                if run.submission_id in unlisted:
                    runs[run.submission_id].append(_run_to_purge(run, version))
            return runs

    def _run(self, run_id: str) -> RunToPurge | None:
        stored = self._store.get(RUNS, run_id)
        if stored is None or not isinstance(stored.model, ValidationRun):
            return None
        return _run_to_purge(stored.model, stored.version)

    def mark_purged_unless_changed(
        self, marks: Sequence[tuple[SubmissionToPurge, Sequence[RunToPurge]]], at: datetime
    ) -> bool:
        """All marked in one commit, or none (False) if one changed since it was read."""
        writes: list[Write] = []
        for submission, runs in marks:
            purged = edits.submission_purged(at)
            writes.append(update(SUBMISSIONS, submission.id, purged, since=submission.version))
            writes.extend(self._run_mark(run, at) for run in runs if not run.output_purged)
        return _committed(self._store, writes)

    @staticmethod
    def _run_mark(run: RunToPurge, at: datetime) -> Write:
        return update(RUNS, run.id, edits.run_purged(at), since=run.version)

    def expired_outputs(
        self, at: datetime, limit: int, after: Any = None
    ) -> tuple[list[RunToPurge], Any]:
        rows = [
            ((r.output_expires_at, r.id), _run_to_purge(r, version))
            for r, version in self._store.models(RUNS, ValidationRun)
            if r.output_expires_at is not None and r.output_expires_at <= at
        ]
        return _page(rows, limit, after)

    def mark_outputs_purged(self, runs: Sequence[RunToPurge], at: datetime) -> int:
        """Each run marked unless it changed since read (one that did is left for the
        next sweep to find again); how many were marked."""
        return sum(_committed(self._store, [self._run_mark(run, at)]) for run in runs)


def _under(prefix: str) -> Callable[[Submission], bool]:
    # Firestore's range: at or after the prefix, before the prefix with "/" + 1 ("0").
    end = prefix[:-1] + "0"
    return lambda s: s.input_file is not None and prefix <= s.input_file < end


class MemoryUploadInputs:
    def __init__(self, store: Store) -> None:
        self._store = store

    def under(self, root_uri: str, limit: int, after: Any = None) -> tuple[list[StoredInput], Any]:
        """Submissions whose input is an object under `root_uri`, in URI order, and the
        cursor of the next page (`after` again when this one is empty)."""
        inside = _under(root_uri.rstrip("/") + "/")
        rows = [
            ((s.input_file, s.id), StoredInput(s.model_copy(deep=True), version))
            for s, version in self._store.models(SUBMISSIONS, Submission)
            if inside(s)
        ]
        rows.sort(key=lambda row: row[0])
        if after is not None:
            rows = [row for row in rows if row[0] > after]
        page = rows[:limit]
        return [item for _, item in page], (page[-1][0] if page else after)

    def find(self, submission_id: str) -> StoredInput | None:
        stored = self._store.get(SUBMISSIONS, submission_id)
        if stored is None or not isinstance(stored.model, Submission):
            return None
        return StoredInput(stored.model.model_copy(deep=True), stored.version)

    def repoint(self, read: StoredInput, input_file: str) -> bool:
        """False, and nothing written, when the submission changed since `read`."""
        moved = update(SUBMISSIONS, read.submission.id, fields(input_file=input_file), read.version)
        return _committed(self._store, [moved])
