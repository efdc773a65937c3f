"""What the API shows of each object: the domain models' field names, each with its id,
never a submission's content or internal claim bookkeeping. Every view is dumped from its
model in shared/api/responses.py, the one the contract documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.api.responses import (
    AuditEntryView,
    ResourceView,
    RunView,
    SubmissionView,
    UploadedResource,
    UploadGrant,
    WorkflowStepView,
    WorkflowView,
)
from shared.domain.models import (
    AuditEntry,
    Finding,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from shared.services.upload_urls import UploadUrl


def submission_view(submission: Submission | None) -> dict[str, Any] | None:
    if submission is None:
        return None
    return SubmissionView.model_validate(submission, from_attributes=True).model_dump(mode="json")


def run_view(run: ValidationRun, submission: Submission | None) -> dict[str, Any]:
    fields = {**dict(run), "submission": submission}
    return RunView.model_validate(fields, from_attributes=True).model_dump(mode="json")


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return AuditEntryView.model_validate(entry, from_attributes=True).model_dump(mode="json")


def finding_view(finding: Finding) -> dict[str, Any]:
    return finding.model_dump(mode="json")


def workflow_view(workflow: Workflow, version: WorkflowVersion) -> dict[str, Any]:
    fields = {
        **dict(workflow),
        **version.model_dump(
            include={"version", "retention", "allowed_file_types", "execution", "warnings"}
        ),
        "steps": [WorkflowStepView.model_validate(s, from_attributes=True) for s in version.steps],
        "version_created_at": version.created_at,
    }
    return WorkflowView.model_validate(fields).model_dump(mode="json")


def resource_view(resource: WorkflowResource) -> dict[str, Any]:
    return ResourceView.model_validate(resource, from_attributes=True).model_dump(mode="json")


def uploaded_resource_view(
    resource: WorkflowResource, version: WorkflowVersion | None
) -> dict[str, Any]:
    """A resource just stored, and the version that pins it if saving it made one."""
    fields = {**dict(resource), "new_version": version.version if version else None}
    return UploadedResource.model_validate(fields).model_dump(mode="json")


def grant_view(grant: UploadUrl, status_url: str | None = None) -> dict[str, Any]:
    """The grant; with `status_url` when the caller passes it (the route adds it itself)."""
    fields = {
        "upload_id": grant.upload_id,
        "object_name": grant.object_name,
        "method": grant.method,
        "url": grant.url,
        "headers": grant.headers,
        "expires_at": grant.expires_at,
        "status_url": status_url,
    }
    return UploadGrant.model_validate(fields).model_dump(mode="json")


def upload_view(event: UploadEvent) -> dict[str, Any]:
    return event.model_dump(mode="json")
