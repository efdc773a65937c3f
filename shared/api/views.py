"""What the API shows of each object: the domain models' field names, each with its id,
never a submission's content or internal claim bookkeeping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.domain.models import (
    Finding,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowStep,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from shared.services.upload_urls import UploadUrl

_SUBMISSION_HIDDEN = {"content", "input_file", "purge_retry_since"}
_STEP_HIDDEN = {"claim_expires_at", "callback_id"}


def submission_view(submission: Submission | None) -> dict[str, Any] | None:
    if submission is None:
        return None
    data = submission.model_dump(mode="json", exclude=_SUBMISSION_HIDDEN)
    data["content_stored"] = submission.content_purged_at is None and bool(
        submission.content or submission.input_file
    )
    return data


def _step_config(step: WorkflowStep) -> dict[str, Any]:
    """A step as saved; resource pins without their storage address."""
    data = step.model_dump(mode="json")
    for pin in data.get("resources", {}).values():
        pin.pop("uri", None)
    return data


def run_view(run: ValidationRun, submission: Submission | None) -> dict[str, Any]:
    data = run.model_dump(mode="json", exclude={"steps", "config"})
    data["steps"] = [s.model_dump(mode="json", exclude=_STEP_HIDDEN) for s in run.steps]
    data["config"] = [_step_config(c) for c in run.config]
    data["submission"] = submission_view(submission)
    return data


def finding_view(finding: Finding) -> dict[str, Any]:
    return finding.model_dump(mode="json")


def workflow_view(workflow: Workflow, version: WorkflowVersion) -> dict[str, Any]:
    data = workflow.model_dump(mode="json")
    data["version"] = version.version
    data.update(
        version.model_dump(
            mode="json", include={"retention", "allowed_file_types", "execution", "warnings"}
        )
    )
    data["steps"] = [_step_config(s) for s in version.steps]
    data["version_created_at"] = version.model_dump(mode="json")["created_at"]
    return data


def resource_view(resource: WorkflowResource) -> dict[str, Any]:
    return resource.model_dump(mode="json", exclude={"id", "uri", "org_id"})


def grant_view(grant: UploadUrl) -> dict[str, Any]:
    return {
        "upload_id": grant.upload_id,
        "object_name": grant.object_name,
        "method": grant.method,
        "url": grant.url,
        "headers": grant.headers,
        "expires_at": grant.expires_at.isoformat(),
    }


def upload_view(event: UploadEvent) -> dict[str, Any]:
    return event.model_dump(mode="json")
