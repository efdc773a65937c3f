"""The contract is generated from the models the views dump: every view's output is valid
against its documented schema and holds no key the schema does not name, hidden fields
stay out of both, and the table of operations is the router's."""

from __future__ import annotations

import copy
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from shared.api import views
from shared.api.intake import ENVELOPE_KEYS
from shared.api.openapi import OPERATIONS, document
from shared.api.responses import Envelope, RerunRequest
from shared.domain.enums import RetentionPolicy, Severity, UploadStatus
from shared.domain.models import (
    Finding,
    ResourcePin,
    Retention,
    StepRun,
    StepTimings,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowStep,
    WorkflowVersion,
)
from shared.services.upload_urls import UploadUrl

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from handlers import api

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PIN = ResourcePin(sha256="a" * 64, uri="gs://bucket/pins/a", size_bytes=3, content_type="x/y")
STEP = WorkflowStep(
    key="s", name="S", validator="json-schema", config={"schema": {}}, resources={"r": PIN}
)
SUBMISSION = Submission(
    id="s1",
    org_id="o",
    workflow_id="w",
    workflow_slug="w",
    workflow_version=1,
    content="secret",
    original_filename="f.json",
    content_type="application/json",
    file_type="json",
    size_bytes=6,
    checksum_sha256="c",
    metadata={"k": [1]},
    retention_policy=RetentionPolicy.STORE_30_DAYS,
    purge_retry_since=NOW,
    created_at=NOW,
)
RUN = ValidationRun(
    id="r1",
    org_id="o",
    submission_id="s1",
    workflow_id="w",
    workflow_slug="w",
    workflow_version=1,
    created_at=NOW,
    config=[STEP],
    steps=[
        StepRun(
            order=0,
            key="s",
            name="S",
            validator="json-schema",
            callback_id="cb",
            claim_expires_at=NOW,
            timings=StepTimings(queued_at=NOW),
        )
    ],
)
WORKFLOW = Workflow(
    id="w", org_id="o", slug="w", name="W", latest_version=1, created_at=NOW, updated_at=NOW
)
VERSION = WorkflowVersion(
    workflow_id="w",
    org_id="o",
    slug="w",
    version=1,
    name="W",
    steps=[STEP],
    retention=Retention(),
    allowed_file_types=["json"],
    created_at=NOW,
)
RESOURCE = WorkflowResource(
    id="i",
    org_id="o",
    workflow_slug="w",
    name="schema.json",
    sha256="s",
    uri="gs://bucket/r",
    size_bytes=1,
    content_type="application/json",
    created_at=NOW,
)
GRANT = UploadUrl(upload_id="u", object_name="o/w/f", url="https://x", headers={}, expires_at=NOW)
EVENT = UploadEvent(
    id="e",
    org_id="o",
    bucket="b",
    name="n",
    generation=1,
    status=UploadStatus.ACCEPTED,
    created_at=NOW,
)
FINDING = Finding(
    id="f",
    org_id="o",
    run_id="r1",
    step_order=0,
    step_key="s",
    attempt=1,
    index=0,
    severity=Severity.ERROR,
    code="c",
    message="m",
    created_at=NOW,
)
# Each view's output, and the schema the contract documents it by.
OUTPUTS = {
    "SubmissionView": views.submission_view(SUBMISSION),
    "RunView": views.run_view(RUN, SUBMISSION),
    "WorkflowView": views.workflow_view(WORKFLOW, VERSION),
    "ResourceView": views.resource_view(RESOURCE),
    "UploadedResource": views.uploaded_resource_view(RESOURCE, VERSION),
    "UploadGrant": views.grant_view(GRANT, "/v1/orgs/o/uploads/u"),
    "UploadEvent": views.upload_view(EVENT),
    "Finding": views.finding_view(FINDING),
}


def _closed(node: Any) -> Any:
    """The schema with every object that names its properties closed to others."""
    if isinstance(node, dict):
        closed = {k: _closed(v) for k, v in node.items()}
        if "properties" in closed:
            closed.setdefault("additionalProperties", False)
        return closed
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def _validator(name: str) -> jsonschema.Draft202012Validator:
    doc = _closed(copy.deepcopy(document(api.ROLES)))
    registry = Registry().with_resource("urn:doc", DRAFT202012.create_resource(doc))
    schema = {"$ref": f"urn:doc#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_each_view_is_what_its_schema_documents_and_nothing_more(name: str) -> None:
    errors = [e.message for e in _validator(name).iter_errors(OUTPUTS[name])]
    assert errors == []


def test_hidden_fields_are_neither_sent_nor_documented() -> None:
    schemas = document(api.ROLES)["components"]["schemas"]
    submission, run = OUTPUTS["SubmissionView"], OUTPUTS["RunView"]
    for hidden in ("content", "input_file", "purge_retry_since"):
        assert hidden not in submission and hidden not in schemas["SubmissionView"]["properties"]
    assert submission["content_stored"] is True
    step = run["steps"][0]
    assert "callback_id" not in step and "claim_expires_at" not in step
    assert "callback_id" not in schemas["StepRunView"]["properties"]
    assert run["config"][0]["resources"]["r"] == {
        "sha256": "a" * 64,
        "size_bytes": 3,
        "content_type": "x/y",
    }
    assert "uri" not in schemas["ResourcePinView"]["properties"]
    assert {"id", "org_id", "uri"}.isdisjoint(OUTPUTS["ResourceView"])


def test_a_grant_without_its_status_url_omits_it_and_keeps_its_expiry_format() -> None:
    grant = views.grant_view(GRANT)
    assert "status_url" not in grant
    assert grant["expires_at"] == NOW.isoformat()


def test_the_envelope_documents_exactly_the_keys_intake_reads() -> None:
    assert set(Envelope.__annotations__) == ENVELOPE_KEYS


@pytest.mark.parametrize(
    "body",
    [{}, {"user": None}, {"user": ""}, {"user": "x"}, {"user": "x" * 201}, {"other": 1}],
)
def test_the_documented_rerun_body_accepts_what_the_route_does(body: dict[str, Any]) -> None:
    def accepts(model: type[BaseModel]) -> bool:
        try:
            model.model_validate(body)
        except ValidationError:
            return False
        return True

    assert accepts(RerunRequest) == accepts(api.RerunRequest)


def test_the_table_of_operations_is_the_routers() -> None:
    routes = {
        (method.lower(), rule.rule.replace("<", "{").replace(">", "}"))
        for rule in api.URLS.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS") and rule.endpoint not in api.PUBLIC
    }
    assert {(op.method, op.path) for op in OPERATIONS} == routes
