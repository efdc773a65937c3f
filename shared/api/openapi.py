"""The API's contract, OpenAPI 3.1, built from the pydantic models the handlers parse
and the views dump, and from the role each route declares (functions/handlers/api.py,
handed in as `roles`: endpoint -> role). Served at GET /v1/openapi.json and checked in as
docs/openapi.json (a test fails when they differ; `make openapi` rewrites the file)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.domain.enums import Role, RunStatus, Severity
from shared.domain.models import (
    Finding,
    Retention,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowStep,
)
from shared.domain.roles import ACTS_FOR_OTHERS, LENGTHENS_RETENTION
from shared.platform.ids import ID_PATTERN
from shared.services.resources import NAME as RESOURCE_NAME
from shared.services.upload_urls import UploadUrlRequest
from shared.services.workflows import SLUG, WorkflowCreate, WorkflowSpec

REF = "#/components/schemas/{model}"
PROBLEM_TYPE = "application/problem+json"
# Every authenticated operation may answer these (schemathesis checks each code it sees
# is documented; a code listed but never seen is harmless).
PROBLEMS = {
    "400": "Malformed: the body, a parameter or a page token",
    "401": "No API key, or a malformed, unknown, revoked or expired one",
    "404": "No such object in your organization (another org's objects are missing ones)",
    "405": "Method not allowed on this route",
    "409": "In conflict with the object's state",
    "413": "The body is over its size cap",
    "415": "A file type the workflow does not accept",
    "422": "Well-formed but not acceptable; the detail names the field",
    "429": (
        "Over a limit: this API key's rate, this address's requests without a valid key, "
        "or (submit, re-run, an upload URL) the organization's runs in flight; retry "
        "after Retry-After seconds"
    ),
    "503": "A dependency is unavailable; retry (after Retry-After)",
}
# Only where a role above viewer is needed: a viewer's routes never answer it.
FORBIDDEN = (
    "This API key's role is below what the operation needs (`x-assay-role`, or a rule in "
    "its description); the detail names the role needed and the key's"
)
ROLE_EXTENSION = "x-assay-role"
LONGER_RETENTION = (
    f"A retention that keeps anything longer than {{than}} needs role "
    f"`{LENGTHENS_RETENTION.value}`; as long or shorter, the role above is enough."
)
OTHERS = "A key below `" + ACTS_FOR_OTHERS.value + "` {what} (those submitted with that key)."


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _views() -> dict[str, Any]:
    """What the views add to or take from the models (shared/api/views.py)."""
    return {
        "SubmissionView": {
            "allOf": [
                _ref("Submission"),
                {"type": "object", "properties": {"content_stored": {"type": "boolean"}}},
            ]
        },
        "RunView": {
            "allOf": [
                _ref("ValidationRun"),
                {
                    "type": "object",
                    "properties": {"submission": _nullable(_ref("SubmissionView"))},
                },
            ]
        },
        "WorkflowView": {
            "allOf": [
                _ref("Workflow"),
                {
                    "type": "object",
                    "properties": {
                        "version": {"type": "integer"},
                        "steps": {"type": "array", "items": _ref("WorkflowStep")},
                        "retention": _ref("Retention"),
                        "allowed_file_types": {"type": "array", "items": {"type": "string"}},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                        "version_created_at": {"type": "string", "format": "date-time"},
                    },
                },
            ]
        },
        "Submitted": {
            "type": "object",
            "required": ["run", "submission"],
            "properties": {"run": _ref("RunView"), "submission": _ref("SubmissionView")},
        },
        "RunPage": _page("RunView"),
        "FindingPage": _page("Finding"),
        "WorkflowList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref("WorkflowView")}},
        },
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
        },
        "Envelope": {
            "type": "object",
            "description": (
                "A file as JSON: `content` and no keys but these. Any other JSON body is "
                "the file itself."
            ),
            "properties": {
                "content": {"type": "string"},
                "content_encoding": {"enum": ["base64"]},
                "filename": {"type": "string"},
                "content_type": {"type": "string"},
                "metadata": {"type": "object"},
                "project_id": {"type": "string"},
            },
        },
        "RerunRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"user": {"type": "string", "minLength": 1, "maxLength": 200}},
        },
        "UploadGrant": {
            "type": "object",
            "description": (
                "PUT the file to `url` with exactly `headers` before `expires_at`; then "
                "`status_url` says what the upload trigger made of it."
            ),
            "required": ["upload_id", "object_name", "method", "url", "headers", "expires_at"],
            "properties": {
                "upload_id": {"type": "string"},
                "object_name": {"type": "string"},
                "method": {"const": "PUT"},
                "url": {"type": "string", "format": "uri"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "expires_at": {"type": "string", "format": "date-time"},
                "status_url": {"type": "string"},
            },
        },
        "Health": {"type": "object", "properties": {"status": {"const": "ok"}}},
        "ResourceView": {
            "type": "object",
            "required": ["name", "sha256", "size_bytes", "content_type", "created_at"],
            "properties": {
                "name": {"type": "string"},
                "workflow_slug": {"type": "string"},
                "sha256": {"type": "string"},
                "size_bytes": {"type": "integer"},
                "content_type": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "new_version": {"type": ["integer", "null"]},
            },
        },
        "ResourceList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref("ResourceView")}},
        },
        "ValidatorList": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "version", "file_types", "config_schema"],
                        "properties": {
                            "name": {"type": "string"},
                            "version": {"type": "string"},
                            "file_types": {"type": "array", "items": {"type": "string"}},
                            "config_schema": {"type": "object"},
                        },
                    },
                }
            },
        },
    }


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_page_token"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next_page_token": {"type": ["string", "null"]},
        },
    }


def _components() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (ValidationRun, "serialization"),
            (Submission, "serialization"),
            (Finding, "serialization"),
            (Workflow, "serialization"),
            (WorkflowStep, "serialization"),
            (Retention, "serialization"),
            (UploadEvent, "serialization"),
            (WorkflowCreate, "validation"),
            (WorkflowSpec, "validation"),
            (UploadUrlRequest, "validation"),
        ],
        ref_template=REF,
    )
    schemas: dict[str, Any] = dict(defs["$defs"])
    schemas.update(_views())
    return {
        "schemas": dict(sorted(schemas.items())),
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An org API key: `Authorization: Bearer assay_<id>_<secret>`.",
            }
        },
    }


def _path_param(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": pattern},
    }


ORG = _path_param("org", ID_PATTERN, "Your organization's id (another org's is a 404).")
SLUG_PARAM = _path_param("slug", SLUG, "The workflow's slug.")
RUN = _path_param("run", ID_PATTERN, "A run id.")
SUBMISSION = _path_param("submission", ID_PATTERN, "A submission id.")


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": (
        "`wait=N` (RFC 7240, N up to 30): answer 200 with the finished run if it ends "
        "within N seconds, else 202 as usual. A fast-path run has ended by the answer. "
        "When the organization already holds its limit of waits on the instance, the 202 "
        "comes at once, without Preference-Applied: poll the run."
    ),
    "schema": {"type": "string"},
}
RETRY_AFTER = {"description": "Seconds to wait before asking again", "schema": {"type": "integer"}}
PAGE_TOKEN = _query("page_token", {"type": "string"}, "The next_page_token of the page before.")


def _operation(
    operation_id: str,
    summary: str,
    parameters: list[dict[str, Any]],
    success: tuple[str, dict[str, Any]],
    *,
    body: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
    also: tuple[str, dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    code, response = success
    if links:
        response = {**response, "links": links}
    responses: dict[str, Any] = {code: response}
    if also is not None:
        responses[also[0]] = {**also[1], "links": links} if links else also[1]
    for status, meaning in PROBLEMS.items():
        responses[status] = {
            "description": meaning,
            "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}},
        }
    responses["429"]["headers"] = {"Retry-After": RETRY_AFTER}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = body
    if description is not None:
        operation["description"] = description
    return operation


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


SUBMIT_BODY = {
    "required": True,
    "description": (
        "The file: the raw body in its own Content-Type (X-Filename names it), a JSON "
        "envelope, or multipart with a field `file`."
    ),
    "content": {
        "application/json": {"schema": {"anyOf": [_ref("Envelope"), {}]}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "filename": {"type": "string"},
                    "metadata": {"type": "string"},
                    "project_id": {"type": "string"},
                },
            }
        },
    },
}


def _links_from_run(body_pointer: str) -> dict[str, Any]:
    run = f"$response.body#{body_pointer}"
    return {
        "GetRun": {"operationId": "getRun", "parameters": {"org": "$request.path.org", "run": run}},
        "ListFindings": {
            "operationId": "listFindings",
            "parameters": {"org": "$request.path.org", "run": run},
        },
        "CancelRun": {
            "operationId": "cancelRun",
            "parameters": {"org": "$request.path.org", "run": run},
        },
    }


def _paths() -> dict[str, Any]:
    org, slug, run, sub = ORG, SLUG_PARAM, RUN, SUBMISSION
    status = _query("status", {"enum": list(RunStatus)}, "Only runs with this status.")
    severity = _query("severity", {"enum": list(Severity)}, "Only findings of this severity.")
    return {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness; no key needed",
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Up")},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document; no key needed",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI 3.1 document"),
                    "429": {
                        "description": "This address is over its limit on requests without "
                        "a valid key; retry after Retry-After seconds",
                        "headers": {"Retry-After": RETRY_AFTER},
                        "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}},
                    },
                },
            }
        },
        "/v1/validators": {
            "get": _operation(
                "listValidators",
                "Every validator: version, file types, the JSON Schema of its step config",
                [],
                ("200", _json(_ref("ValidatorList"), "The catalog")),
            ),
        },
        "/v1/orgs/{org}/workflows": {
            "get": _operation(
                "listWorkflows",
                "Your workflows, each at its latest version",
                [org],
                ("200", _json(_ref("WorkflowList"), "The workflows")),
            ),
            "post": _operation(
                "createWorkflow",
                "Create a workflow (version 1)",
                [org],
                ("201", _json(_ref("WorkflowView"), "Created")),
                body=_body(_ref("WorkflowCreate")),
                description=LONGER_RETENTION.format(than="the default (30 days)"),
                links={
                    "Submit": {
                        "operationId": "submit",
                        "parameters": {"org": "$request.path.org", "slug": "$response.body#/slug"},
                    }
                },
            ),
        },
        "/v1/orgs/{org}/workflows/{slug}": {
            "get": _operation(
                "getWorkflow",
                "A workflow, at its latest or a given version",
                [
                    org,
                    slug,
                    _query("version", {"type": "integer", "minimum": 1}, "A version number."),
                ],
                ("200", _json(_ref("WorkflowView"), "The workflow")),
            ),
            "put": _operation(
                "updateWorkflow",
                "A new version; existing submissions keep theirs",
                [org, slug],
                ("200", _json(_ref("WorkflowView"), "The new version")),
                body=_body(_ref("WorkflowSpec")),
                description=LONGER_RETENTION.format(than="the latest version's"),
            ),
        },
        "/v1/orgs/{org}/workflows/{slug}/runs": {
            "post": _operation(
                "submit",
                "Submit a file: a Submission and its Run",
                [org, slug, PREFER],
                ("202", _json(_ref("Submitted"), "Accepted; Location names the run")),
                body=SUBMIT_BODY,
                links=_links_from_run("/run/id"),
                also=("200", _json(_ref("Submitted"), "Prefer: wait=N and the run ended in time")),
            ),
        },
        "/v1/orgs/{org}/workflows/{slug}/resources": {
            "get": _operation(
                "listResources",
                "The workflow's resources (name, checksum, size)",
                [org, slug],
                ("200", _json(_ref("ResourceList"), "The resources")),
            ),
            "post": _operation(
                "uploadResource",
                "Upload or replace a resource (multipart `file`, `name`); a replacement the "
                "latest version uses saves a new version",
                [org, slug],
                (
                    "201",
                    _json(_ref("ResourceView"), "Stored; new_version names a re-pinned version"),
                ),
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "name": {"type": "string", "pattern": RESOURCE_NAME},
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/v1/orgs/{org}/workflows/{slug}/resources/{name}": {
            "delete": _operation(
                "deleteResource",
                "Delete a resource (versions that pinned it keep their copy)",
                [org, slug, _path_param("name", RESOURCE_NAME, "The resource's name.")],
                ("204", {"description": "Deleted"}),
            ),
        },
        "/v1/orgs/{org}/runs": {
            "get": _operation(
                "listRuns",
                "Your runs, newest first",
                [
                    org,
                    status,
                    _query(
                        "workflow",
                        {"type": "string", "pattern": SLUG},
                        "Only this workflow's runs.",
                    ),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size."
                    ),
                    PAGE_TOKEN,
                ],
                ("200", _json(_ref("RunPage"), "A page of runs")),
            ),
        },
        "/v1/orgs/{org}/runs/{run}": {
            "get": _operation(
                "getRun",
                "A run: status, result, steps, summary, submission",
                [org, run],
                ("200", _json(_ref("RunView"), "The run")),
            ),
        },
        "/v1/orgs/{org}/runs/{run}/findings": {
            "get": _operation(
                "listFindings",
                "A run's findings, by step and order",
                [
                    org,
                    run,
                    severity,
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size."
                    ),
                    PAGE_TOKEN,
                ],
                ("200", _json(_ref("FindingPage"), "A page of findings")),
            ),
        },
        "/v1/orgs/{org}/runs/{run}/cancel": {
            "post": _operation(
                "cancelRun",
                "Cancel a PENDING or RUNNING run",
                [org, run],
                ("200", _json(_ref("RunView"), "The run, CANCELED")),
                description=OTHERS.format(what="cancels only the runs of its own submissions"),
            ),
        },
        "/v1/orgs/{org}/submissions/{submission}": {
            "get": _operation(
                "getSubmission",
                "A submission's record (never its content)",
                [org, sub],
                ("200", _json(_ref("SubmissionView"), "The submission")),
            ),
        },
        "/v1/orgs/{org}/submissions/{submission}/runs": {
            "post": _operation(
                "rerun",
                "Run the same content again on the pinned workflow version",
                [org, sub],
                ("202", _json(_ref("Submitted"), "Accepted; Location names the new run")),
                body=_body(_ref("RerunRequest"), required=False),
                description=OTHERS.format(what="re-runs only its own submissions"),
                links=_links_from_run("/run/id"),
            ),
        },
        "/v1/orgs/{org}/workflows/{slug}/uploads": {
            "post": _operation(
                "grantUpload",
                "A signed URL to PUT one file of up to 5 GiB; the upload trigger submits it",
                [org, slug],
                ("201", _json(_ref("UploadGrant"), "Granted; Location is its status")),
                body=_body(_ref("UploadUrlRequest")),
                description=(
                    "At the organization's runs in flight (`ASSAY_ORG_RUNS_IN_FLIGHT`), 429 "
                    "with Retry-After and no URL. A file sent to a URL while the organization "
                    "is at that limit waits: the trigger takes it again later (for up to a "
                    "day), and its status stays 404 until then."
                ),
            ),
        },
        "/v1/orgs/{org}/uploads/{upload}": {
            "get": _operation(
                "getGrantedUpload",
                "What the upload trigger made of a signed-URL upload (404 until it arrives)",
                [org, _path_param("upload", ID_PATTERN, "The grant's upload_id.")],
                ("200", _json(_ref("UploadEvent"), "ACCEPTED with its run, or REJECTED with why")),
            ),
        },
        "/v1/orgs/{org}/uploads/{slug}/{filename}": {
            "get": _operation(
                "getUpload",
                "What the upload trigger made of one object generation",
                [
                    org,
                    slug,
                    {
                        "name": "filename",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "generation",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                ("200", _json(_ref("UploadEvent"), "ACCEPTED with its run, or REJECTED with why")),
            ),
        },
    }


@lru_cache(maxsize=1)
def _unroled() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Assay",
            "version": "1",
            "description": (
                "Validate files against workflows. Errors are application/problem+json "
                "with a `detail` that says what to change. An API key has a role (viewer, "
                "submitter, author, admin; each can do all the ones before it can); each "
                f"operation's `{ROLE_EXTENSION}` names the least role it needs, and a key "
                "below it gets 403."
            ),
        },
        "security": [{"apiKey": []}],
        "paths": _paths(),
        "components": _components(),
    }


def endpoint_of(operation_id: str) -> str:
    """The api's endpoint name for an operationId: `getGrantedUpload` -> `get_granted_upload`."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", operation_id).lower()


def document(roles: Mapping[str, Role]) -> dict[str, Any]:
    """The contract, each authenticated operation stating the role its route declares
    (KeyError for one that declares none: every route must)."""
    doc = copy.deepcopy(_unroled())
    for item in doc["paths"].values():
        for operation in item.values():
            if operation.get("security") == []:
                continue
            role = roles[endpoint_of(operation["operationId"])]
            operation[ROLE_EXTENSION] = role.value
            needs = f"Needs an API key with role `{role.value}` or above."
            operation["description"] = " ".join(filter(None, [needs, operation.get("description")]))
            if role is not Role.VIEWER:
                forbidden = {
                    "description": FORBIDDEN,
                    "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}},
                }
                operation["responses"] = dict(
                    sorted({**operation["responses"], "403": forbidden}.items())
                )
    return doc


def rendered(roles: Mapping[str, Role]) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(document(roles), indent=2, sort_keys=False) + "\n"
