"""The API's read side: what each view shows, read in a number of reads that does not grow
with the page (a page of runs and their submissions is two reads, not one per run).
Tenancy holds here as in the repositories: another org's object is a 404."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.adapters.storage.layout import UploadsLayout
from shared.domain.enums import RunResult, RunStatus
from shared.domain.models import (
    Finding,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowVersion,
)
from shared.persistence.ports import Page, Repositories
from shared.platform.config import Settings
from shared.platform.errors import NotFound
from shared.platform.ids import is_new_id

if TYPE_CHECKING:
    from shared.catalog.validators import ValidatorSpec


@dataclass(frozen=True)
class RunRow:
    """A run and its submission (None once the submission is gone: the run stays readable)."""

    run: ValidationRun
    submission: Submission | None


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    workflow: str | None = None
    limit: int = 50
    page_token: str | None = None
    # A result is read through the status that gives it; FAIL and ERROR share FAILED, so
    # a page filtered by either holds at most `limit` runs, and may hold fewer.
    result: str | None = None


_STATUS_OF_RESULT = {
    RunResult.PASS: RunStatus.SUCCEEDED,
    RunResult.FAIL: RunStatus.FAILED,
    RunResult.ERROR: RunStatus.FAILED,
    RunResult.CANCELED: RunStatus.CANCELED,
    RunResult.TIMED_OUT: RunStatus.TIMED_OUT,
}


def run(repos: Repositories, org_id: str, run_id: str) -> RunRow:
    found = repos.runs.get(org_id, run_id)
    return RunRow(found, repos.submissions.find(found.submission_id))


def with_submission(repos: Repositories, found: ValidationRun) -> RunRow:
    """A run already read (one just changed), with its submission."""
    return RunRow(found, repos.submissions.find(found.submission_id))


def runs(repos: Repositories, org_id: str, where: RunFilter) -> Page[RunRow]:
    """A page of the org's runs, newest first, and their submissions read in one call."""
    status = where.status
    if where.result is not None:
        status = _STATUS_OF_RESULT.get(RunResult(where.result))
        if status is None or (where.status is not None and where.status != status):
            return Page([], None)  # no run has both, or none ever has this result
    page = repos.runs.page(
        org_id,
        status=status,
        workflow=where.workflow,
        limit=where.limit,
        page_token=where.page_token,
    )
    found = [r for r in page.items if where.result is None or r.result == where.result]
    wanted = list(dict.fromkeys(r.submission_id for r in found if r.submission_id))
    submissions = repos.submissions.by_id(wanted)
    rows = [RunRow(r, submissions.get(r.submission_id or "")) for r in found]
    return Page(rows, page.next_page_token)


def findings(
    repos: Repositories,
    org_id: str,
    run_id: str,
    *,
    severity: str | None,
    limit: int,
    page_token: str | None,
) -> Page[Finding]:
    return repos.findings.page(
        org_id, run_id, severity=severity, limit=limit, page_token=page_token
    )


def submission(repos: Repositories, org_id: str, submission_id: str) -> Submission:
    return repos.submissions.get(org_id, submission_id)


def workflows(repos: Repositories, org_id: str) -> list[tuple[Workflow, WorkflowVersion]]:
    """The org's workflows by slug, each with its latest version (read in one call)."""
    listed = repos.workflows.all(org_id)
    return list(zip(listed, repos.workflows.latest_versions(listed), strict=True))


def workflow(
    repos: Repositories, org_id: str, slug: str, version: Callable[[], int | None]
) -> tuple[Workflow, WorkflowVersion]:
    """The workflow and the version `version()` names (None: the latest). It is asked once
    the workflow is found, so a missing workflow is a 404 before a malformed version is
    a 400."""
    found = repos.workflows.get(org_id, slug)
    return found, repos.workflows.version(found, version())


def resources(repos: Repositories, org_id: str, slug: str) -> list[WorkflowResource]:
    repos.workflows.get(org_id, slug)  # 404 for another org's or a missing workflow
    return repos.resources.all(org_id, slug)


def validators() -> list[ValidatorSpec]:
    """The catalog's validators by name. Imported here, on use: the catalog is the api's
    alone (tests/unit/test_cold_imports.py), and this module need not be."""
    from shared.catalog.validators import CATALOG

    return [spec for _, spec in sorted(CATALOG.items())]


def granted_upload(repos: Repositories, org_id: str, upload_id: str) -> UploadEvent:
    """What the upload trigger made of signed-URL grant `upload_id`; 404 until it has seen
    it. An id not the shape of one names nothing and is not read."""
    event = repos.uploads.find_granted(org_id, upload_id) if is_new_id(upload_id) else None
    if event is None:
        raise NotFound(
            f"upload {upload_id[:64]!r} has not arrived (or is not this organization's): "
            "PUT the file to its signed URL, then ask again"
        )
    return event


def upload(
    repos: Repositories, settings: Settings, org_id: str, slug: str, filename: str, generation: int
) -> UploadEvent:
    """What the upload trigger made of one generation of the org's uploads object
    `slug/filename`; 404 until it has seen it."""
    layout = UploadsLayout(settings.uploads_uri)
    name = layout.object_name(org_id, slug, filename)
    return repos.uploads.get_event(org_id, repos.uploads.event_id(layout.bucket, name, generation))
