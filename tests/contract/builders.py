"""Domain models for the contract tests, stored only through the ports' own
operations (a batch's create, a unit of work's save): the suite knows no backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.enums import ReceiptState, RetentionPolicy, RunStatus, Severity, UploadStatus
from shared.domain.models import (
    ApiKey,
    CallbackReceipt,
    Finding,
    IdempotencyRecord,
    Model,
    PurgeRetry,
    PurgeRetryState,
    Retention,
    StepRun,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowStep,
    WorkflowVersion,
)
from shared.persistence.ports import UploadGrant
from shared.platform.ids import new_id, stable_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def store(repos: Any, *models: Model) -> None:
    batch = repos.batch()
    for model in models:
        batch.create(model)
    batch.commit()


def save(repos: Any, *models: Model) -> None:
    def write(uow: Any) -> None:
        for model in models:
            uow.save(model)

    repos.transact(write)


def api_key(org: str, minutes: float = 0, name: str = "k") -> ApiKey:
    return ApiKey(
        id=new_id(), org_id=org, name=name, secret_sha256="0" * 64, created_at=at(minutes)
    )


def workflow(repos: Any, org: str, slug: str = "people", latest: int = 1) -> Workflow:
    return Workflow(
        id=repos.workflows.id_for(org, slug),
        org_id=org,
        slug=slug,
        name=slug.title(),
        latest_version=latest,
        created_at=T0,
        updated_at=T0,
    )


def version(flow: Workflow, number: int = 1) -> WorkflowVersion:
    return WorkflowVersion(
        workflow_id=flow.id,
        org_id=flow.org_id,
        slug=flow.slug,
        version=number,
        name=f"{flow.name} v{number}",
        steps=[WorkflowStep(key="k", name="n", validator="json-schema")],
        retention=Retention(),
        allowed_file_types=["json"],
        created_at=at(number),
    )


def resource(org: str, slug: str, name: str, minutes: float = 0) -> WorkflowResource:
    return WorkflowResource(
        id=stable_id(org, slug, name),
        org_id=org,
        workflow_slug=slug,
        name=name,
        sha256="a" * 64,
        uri=f"file:///resources/{name}",
        size_bytes=3,
        content_type="application/json",
        created_at=at(minutes),
    )


def submission(org: str, **fields: Any) -> Submission:
    values: dict[str, Any] = {
        "id": new_id(),
        "org_id": org,
        "workflow_id": "w",
        "workflow_slug": "people",
        "workflow_version": 1,
        "content": "content",
        "original_filename": "a.json",
        "content_type": "application/json",
        "file_type": "json",
        "size_bytes": 7,
        "checksum_sha256": "c" * 64,
        "retention_policy": RetentionPolicy.STORE_7_DAYS,
        "created_at": T0,
    }
    return Submission(**{**values, **fields})


def run(org: str, minutes: float = 0, **fields: Any) -> ValidationRun:
    values: dict[str, Any] = {
        "id": new_id(),
        "org_id": org,
        "workflow_id": "w",
        "workflow_slug": "people",
        "workflow_version": 1,
        "status": RunStatus.PENDING,
        "created_at": at(minutes),
        "config": [WorkflowStep(key="k", name="n", validator="json-schema")],
        "steps": [StepRun(order=0, key="k", name="n", validator="json-schema")],
    }
    return ValidationRun(**{**values, **fields})


def finding(
    org: str, run_id: str, step: int, index: int, severity: Severity = Severity.ERROR
) -> Finding:
    return Finding(
        id=stable_id(run_id, step, 1, index),
        org_id=org,
        run_id=run_id,
        step_order=step,
        step_key=f"s{step}",
        attempt=1,
        index=index,
        severity=severity,
        code="c",
        message=f"m{step}.{index}",
        created_at=T0,
    )


def receipt(
    callback_id: str, owner: str, received: float, lease_minutes: float = 5
) -> CallbackReceipt:
    return CallbackReceipt(
        id=callback_id,
        org_id="o",
        run_id="r",
        step_order=0,
        attempt=1,
        status="SUCCEEDED",
        result_uri="file:///result.json",
        received_at=at(received),
        state=ReceiptState.PROCESSING,
        owner=owner,
        lease_expires_at=at(received + lease_minutes),
    )


def purge_retry(
    org: str,
    submission_id: str | None = None,
    due: float = 0,
    updated: float = 0,
    state: PurgeRetryState = PurgeRetryState.PENDING,
) -> PurgeRetry:
    sid = submission_id or new_id()
    return PurgeRetry(
        id=sid,
        org_id=org,
        submission_id=sid,
        reason="r",
        state=state,
        next_retry_at=at(due),
        created_at=T0,
        updated_at=at(updated),
    )


def idempotency(org: str, key: str = "key-1") -> IdempotencyRecord:
    return IdempotencyRecord(
        id=stable_id(org, key),
        org_id=org,
        key=key,
        request_sha256="d" * 64,
        run_id=new_id(),
        submission_id=new_id(),
        created_at=T0,
        expires_at=at(60),
    )


def upload_event(
    repos: Any,
    org: str,
    name: str = "obj",
    generation: int = 1,
    upload_id: str | None = None,
    status: UploadStatus = UploadStatus.ACCEPTED,
) -> UploadEvent:
    return UploadEvent(
        id=repos.uploads.event_id("uploads", f"{org}/people/{name}", generation),
        org_id=org,
        bucket="uploads",
        name=f"{org}/people/{name}",
        generation=generation,
        upload_id=upload_id,
        status=status,
        reason=None if status is UploadStatus.ACCEPTED else "refused",
        created_at=T0,
        expire_at=at(60),
    )


def grant(org: str, upload_id: str | None = None) -> UploadGrant:
    uid = upload_id or new_id()
    return UploadGrant(
        id=uid,
        org_id=org,
        workflow_slug="people",
        filename="a.json",
        object_name=f"{org}/people/{uid}/a.json",
        api_key_id="k",
        created_at=T0,
        expires_at=at(15),
        expire_at=at(60),
    )
