"""Reads shared by the repositories and the unit of work, through a `Reader`: the store
itself, or a unit of work that notes what each read saw so its commit can tell whether
any of it changed meanwhile. Every model returned is the caller's own copy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from shared.domain.models import Model, Submission, ValidationRun, Workflow, WorkflowVersion
from shared.persistence.memory.store import (
    RUNS,
    SUBMISSIONS,
    VERSIONS,
    WORKFLOWS,
    Store,
    Stored,
    copy_out,
    version_key,
)
from shared.platform.errors import NotFound
from shared.platform.ids import stable_id

M = TypeVar("M", bound=Model)
Where = Callable[[Model], bool]


class Reader(Protocol):
    def get(self, collection: str, key: str) -> Stored | None: ...
    def query(self, collection: str, where: Where) -> list[tuple[str, Stored]]:
        """The documents that match, by key."""


class Direct:
    """Reads of committed state outside a unit of work."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, collection: str, key: str) -> Stored | None:
        return self.store.get(collection, key)

    def query(self, collection: str, where: Where) -> list[tuple[str, Stored]]:
        return [(k, s) for k, s in self.store.scan(collection) if where(s.model)]


def find(reader: Reader, collection: str, key: str, cls: type[M]) -> M | None:
    stored = reader.get(collection, key)
    return None if stored is None else copy_out(stored, cls)


def owned(reader: Reader, collection: str, cls: type[M], org_id: str, key: str, what: str) -> M:
    """The org's document; another org's is reported exactly like a missing one."""
    found = find(reader, collection, key, cls) if key and "/" not in key else None
    if found is None or getattr(found, "org_id", None) != org_id:
        raise NotFound(f"{what} {key!r} does not exist in organization {org_id!r}")
    return found


def workflow_id(org_id: str, slug: str) -> str:
    return stable_id(org_id, "workflow", slug, length=20)


def find_run(reader: Reader, run_id: str) -> ValidationRun | None:
    if not run_id or "/" in run_id:
        return None
    return find(reader, RUNS, run_id, ValidationRun)


def find_submission(reader: Reader, submission_id: str | None) -> Submission | None:
    if not submission_id:
        return None
    return find(reader, SUBMISSIONS, submission_id, Submission)


def find_workflow(reader: Reader, org_id: str, slug: str) -> Workflow | None:
    workflow = find(reader, WORKFLOWS, workflow_id(org_id, slug), Workflow)
    return workflow if workflow is not None and workflow.org_id == org_id else None


def get_version(reader: Reader, workflow: Workflow, number: int | None) -> WorkflowVersion:
    number = workflow.latest_version if number is None else number
    found = find(reader, VERSIONS, version_key(workflow.id, number), WorkflowVersion)
    if found is None:
        raise NotFound(f"workflow {workflow.slug!r} has no version {number}")
    return found


def submissions_by_id(reader: Reader, ids: Sequence[str]) -> dict[str, Submission | None]:
    return {sid: find_submission(reader, sid) for sid in ids}


def runs_of(
    reader: Reader, submissions: dict[str, Submission | None]
) -> dict[str, list[ValidationRun]]:
    """By id where the record lists its runs (in its order, the gone left out), by query
    for the rest (records from before `run_ids`, or gone)."""
    listed = {sid: s.run_ids for sid, s in submissions.items() if s is not None and s.run_ids}
    found: dict[str, list[ValidationRun]] = {}
    for sid, ids in listed.items():
        runs = (find(reader, RUNS, rid, ValidationRun) for rid in ids)
        found[sid] = [run for run in runs if run is not None]
    rest = [sid for sid in submissions if sid not in listed]
    return found | (runs_of_submissions(reader, rest) if rest else {})


def runs_of_submissions(
    reader: Reader, submission_ids: Sequence[str]
) -> dict[str, list[ValidationRun]]:
    """Each submission's runs by query, by run id."""
    wanted = set(submission_ids)
    found: dict[str, list[ValidationRun]] = {sid: [] for sid in submission_ids}
    matches = reader.query(RUNS, lambda m: getattr(m, "submission_id", None) in wanted)
    for _, stored in matches:
        run = copy_out(stored, ValidationRun)
        found[run.submission_id or ""].append(run)
    return found
