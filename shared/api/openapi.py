"""The API's contract, OpenAPI 3.1, generated: the component schemas from the pydantic
models the handlers parse and the views dump (shared/api/responses.py), the paths from
one table of operations below, and each operation's role from the route that declares it
(functions/handlers/api.py, handed in as `roles`: endpoint -> role). Served at
GET /v1/openapi.json and checked in as docs/openapi.json (a test fails when they differ;
`make openapi` rewrites the file)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode as Mode

from shared.api.responses import (
    AuditPage,
    BadgeView,
    CredentialView,
    Envelope,
    FindingPage,
    Health,
    Problem,
    RerunRequest,
    ResourceList,
    RunPage,
    RunView,
    SubmissionView,
    Submitted,
    UploadedResource,
    UploadGrant,
    ValidatorList,
    WorkflowList,
    WorkflowView,
)
from shared.api.webhook_views import (
    DeliveryList,
    WebhookCreated,
    WebhookList,
    WebhookRequest,
)
from shared.domain.enums import AuditAction, Role, RunStatus, Severity
from shared.domain.evidence import Manifest
from shared.domain.models import UploadEvent
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

Json = dict[str, Any]
# A pydantic model or a TypedDict: something pydantic writes a JSON Schema for.
Shape = type


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _schema(shape: Shape | Json) -> Json:
    return _ref(shape.__name__) if isinstance(shape, type) else shape


def _json(shape: Shape | Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": _schema(shape)}}}


def _path_param(name: str, pattern: str | None, description: str | None) -> Json:
    schema: Json = {"type": "string"} if pattern is None else {"type": "string", "pattern": pattern}
    param: Json = {"name": name, "in": "path", "required": True, "description": description}
    return {**{k: v for k, v in param.items() if v is not None}, "schema": schema}


# Every `{name}` in a path, described once.
PATH_PARAMS = {
    "org": _path_param("org", ID_PATTERN, "Your organization's id (another org's is a 404)."),
    "slug": _path_param("slug", SLUG, "The workflow's slug."),
    "run": _path_param("run", ID_PATTERN, "A run id."),
    "submission": _path_param("submission", ID_PATTERN, "A submission id."),
    "name": _path_param("name", RESOURCE_NAME, "The resource's name."),
    "upload": _path_param("upload", ID_PATTERN, "The grant's upload_id."),
    "webhook": _path_param("webhook", ID_PATTERN, "A webhook's id."),
    "filename": _path_param("filename", None, None),
}


def _query(name: str, schema: Json, description: str | None = None, required: bool = False) -> Json:
    described = {} if description is None else {"description": description}
    return {"name": name, "in": "query", "required": required, **described, "schema": schema}


def _limit(most: int) -> Json:
    return _query("limit", {"type": "integer", "minimum": 1, "maximum": most}, "Page size.")


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
STATUS = _query("status", {"enum": list(RunStatus)}, "Only runs with this status.")
SEVERITY = _query("severity", {"enum": list(Severity)}, "Only findings of this severity.")
WORKFLOW = _query("workflow", {"type": "string", "pattern": SLUG}, "Only this workflow's runs.")
ACTION = _query("action", {"enum": list(AuditAction)}, "Only entries of this action.")
VERSION = _query("version", {"type": "integer", "minimum": 1}, "A version number.")
GENERATION = _query("generation", {"type": "integer", "minimum": 0}, required=True)

_BINARY = {"type": "string", "format": "binary"}
SUBMIT_BODY = {
    "required": True,
    "description": (
        "The file: the raw body in its own Content-Type (X-Filename names it), a JSON "
        "envelope, or multipart with a field `file`."
    ),
    "content": {
        "application/json": {"schema": {"anyOf": [_ref(Envelope.__name__), {}]}},
        "application/octet-stream": {"schema": _BINARY},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": _BINARY,
                    "filename": {"type": "string"},
                    "metadata": {"type": "string"},
                    "project_id": {"type": "string"},
                },
            }
        },
    },
}
RESOURCE_FORM = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": _BINARY,
                    "name": {"type": "string", "pattern": RESOURCE_NAME},
                },
            }
        }
    },
}


def _links_from_run(body_pointer: str) -> Json:
    params = {"org": "$request.path.org", "run": f"$response.body#{body_pointer}"}
    return {
        name: {"operationId": operation_id, "parameters": params}
        for name, operation_id in (
            ("GetRun", "getRun"),
            ("ListFindings", "listFindings"),
            ("CancelRun", "cancelRun"),
        )
    }


SUBMIT_LINK = {
    "Submit": {
        "operationId": "submit",
        "parameters": {"org": "$request.path.org", "slug": "$response.body#/slug"},
    }
}
# A success status, what it holds (None: nothing), and what it means.
Answer = tuple[str, Shape | None, str]


@dataclass(frozen=True)
class Operation:
    """One authenticated operation; its path parameters come from `path`, its role from
    the route (`document`), its error answers from PROBLEMS."""

    method: str
    path: str
    operation_id: str
    summary: str
    answers: tuple[Answer, ...]
    body: Shape | Json | None = None
    body_required: bool = True
    params: tuple[Json, ...] = ()
    description: str | None = None
    links: Json = field(default_factory=dict)


WORKFLOWS, WORKFLOW_ITEM = "/v1/orgs/{org}/workflows", "/v1/orgs/{org}/workflows/{slug}"
RESOURCES, RUNS = WORKFLOW_ITEM + "/resources", "/v1/orgs/{org}/runs"
UPLOADED = "ACCEPTED with its run, or REJECTED with why"
WEBHOOKS = "/v1/orgs/{org}/webhooks"
# One entry per operation: method, path, operationId, summary, success answers, body; then
# what differs from the usual. Kept unformatted so that each reads as one row.
# fmt: off
OPERATIONS = (
    Operation(
        "get", "/v1/validators", "listValidators",
        "Every validator: version, file types, the JSON Schema of its step config",
        (("200", ValidatorList, "The catalog"),),
    ),
    Operation(
        "get", WORKFLOWS, "listWorkflows", "Your workflows, each at its latest version",
        (("200", WorkflowList, "The workflows"),),
    ),
    Operation(
        "post", WORKFLOWS, "createWorkflow", "Create a workflow (version 1)",
        (("201", WorkflowView, "Created"),), WorkflowCreate,
        description=LONGER_RETENTION.format(than="the default (30 days)"), links=SUBMIT_LINK,
    ),
    Operation(
        "get", WORKFLOW_ITEM, "getWorkflow", "A workflow, at its latest or a given version",
        (("200", WorkflowView, "The workflow"),), params=(VERSION,),
    ),
    Operation(
        "put", WORKFLOW_ITEM, "updateWorkflow", "A new version; existing submissions keep theirs",
        (("200", WorkflowView, "The new version"),), WorkflowSpec,
        description=LONGER_RETENTION.format(than="the latest version's"),
    ),
    Operation(
        "put", WORKFLOW_ITEM + "/badge", "enableBadge",
        "Turn the workflow's public status badge on: its unguessable SVG URL",
        (
            ("201", BadgeView, "Turned on, at a new URL"),
            ("200", BadgeView, "Already on; its URL is unchanged"),
        ),
        description=(
            "Anyone holding the URL sees the workflow's name and its latest result, and "
            "nothing else about the organization. Turned off and on again, a badge gets a "
            "new URL (README, Status badges)."
        ),
    ),
    Operation(
        "delete", WORKFLOW_ITEM + "/badge", "disableBadge",
        "Turn the workflow's status badge off: its URL answers 404 from now on",
        (("204", None, "Off (also when it was off)"),),
    ),
    Operation(
        "post", WORKFLOW_ITEM + "/runs", "submit", "Submit a file: a Submission and its Run",
        (
            ("202", Submitted, "Accepted; Location names the run"),
            ("200", Submitted, "Prefer: wait=N and the run ended in time"),
        ),
        SUBMIT_BODY, params=(PREFER,), links=_links_from_run("/run/id"),
    ),
    Operation(
        "get", RESOURCES, "listResources", "The workflow's resources (name, checksum, size)",
        (("200", ResourceList, "The resources"),),
    ),
    Operation(
        "post", RESOURCES, "uploadResource",
        "Upload or replace a resource (multipart `file`, `name`); a replacement the "
        "latest version uses saves a new version",
        (("201", UploadedResource, "Stored; new_version names a re-pinned version"),),
        RESOURCE_FORM,
    ),
    Operation(
        "delete", RESOURCES + "/{name}", "deleteResource",
        "Delete a resource (versions that pinned it keep their copy)",
        (("204", None, "Deleted"),),
    ),
    Operation(
        "get", RUNS, "listRuns", "Your runs, newest first",
        (("200", RunPage, "A page of runs"),), params=(STATUS, WORKFLOW, _limit(200), PAGE_TOKEN),
    ),
    Operation(
        "get", RUNS + "/{run}", "getRun", "A run: status, result, steps, summary, submission",
        (("200", RunView, "The run"),),
    ),
    Operation(
        "get", RUNS + "/{run}/findings", "listFindings", "A run's findings, by step and order",
        (("200", FindingPage, "A page of findings"),),
        params=(SEVERITY, _limit(1000), PAGE_TOKEN),
    ),
    Operation(
        "get", RUNS + "/{run}/evidence", "getRunEvidence",
        "A finished run's evidence manifest: hashes of its input, config, outputs, findings",
        (("200", Manifest, "The manifest, as stored when the run ended"),),
        description=(
            "Kept as long as the run's record, through every purge; it holds hashes, never "
            "content. Its digest is the sha256 of its RFC 8785 canonical form (README, "
            "Evidence). 409 for a run that has not ended."
        ),
    ),
    Operation(
        "get", RUNS + "/{run}/credential", "getCredential",
        "A finished run's signed credential (a VC-JWT), issued once and the same after",
        (("200", CredentialView, "The credential"),),
        description=(
            "Signed RS256 by Assay's signer identity; anyone verifies it with the keys at "
            "/.well-known/jwks.json, the file and nothing else (README, Verifying a "
            "credential). 409 for a run that has not ended."
        ),
    ),
    Operation(
        "post", RUNS + "/{run}/cancel", "cancelRun", "Cancel a PENDING or RUNNING run",
        (("200", RunView, "The run, CANCELED"),),
        description=OTHERS.format(what="cancels only the runs of its own submissions"),
    ),
    Operation(
        "get", "/v1/orgs/{org}/submissions/{submission}", "getSubmission",
        "A submission's record (never its content)",
        (("200", SubmissionView, "The submission"),),
    ),
    Operation(
        "post", "/v1/orgs/{org}/submissions/{submission}/runs", "rerun",
        "Run the same content again on the pinned workflow version",
        (("202", Submitted, "Accepted; Location names the new run"),), RerunRequest,
        body_required=False, description=OTHERS.format(what="re-runs only its own submissions"),
        links=_links_from_run("/run/id"),
    ),
    Operation(
        "post", WORKFLOW_ITEM + "/uploads", "grantUpload",
        "A signed URL to PUT one file of up to 5 GiB; the upload trigger submits it",
        (("201", UploadGrant, "Granted; Location is its status"),), UploadUrlRequest,
        description=(
            "At the organization's runs in flight (`ASSAY_ORG_RUNS_IN_FLIGHT`), 429 "
            "with Retry-After and no URL. A file sent to a URL while the organization "
            "is at that limit waits: the trigger takes it again later (for up to a "
            "day), and its status stays 404 until then."
        ),
    ),
    Operation(
        "get", "/v1/orgs/{org}/uploads/{upload}", "getGrantedUpload",
        "What the upload trigger made of a signed-URL upload (404 until it arrives)",
        (("200", UploadEvent, UPLOADED),),
    ),
    Operation(
        "get", "/v1/orgs/{org}/uploads/{slug}/{filename}", "getUpload",
        "What the upload trigger made of one object generation",
        (("200", UploadEvent, UPLOADED),), params=(GENERATION,),
    ),
    Operation(
        "get", "/v1/orgs/{org}/audit", "listAudit",
        "Your organization's audit log, newest first: who changed what, when, and how",
        (("200", AuditPage, "A page of entries"),), params=(ACTION, _limit(200), PAGE_TOKEN),
    ),
    Operation(
        "post", WEBHOOKS, "createWebhook",
        "Register a URL for signed event deliveries; the answer holds its secret, once",
        (("201", WebhookCreated, "Registered"),), WebhookRequest,
        description=(
            "422 for a URL that is not https or resolves to a loopback, private, "
            "link-local, CGNAT, multicast or metadata address (checked again at each "
            "delivery). How a receiver checks `Assay-Signature`: README, Webhooks."
        ),
    ),
    Operation(
        "get", WEBHOOKS, "listWebhooks", "Your organization's webhooks (never their secrets)",
        (("200", WebhookList, "The webhooks"),),
    ),
    Operation(
        "delete", WEBHOOKS + "/{webhook}", "deleteWebhook",
        "Delete a webhook: nothing more is sent to it", (("204", None, "Deleted"),),
    ),
    Operation(
        "post", WEBHOOKS + "/{webhook}/rotate", "rotateWebhook",
        "A new secret, shown once; the previous one also signs for 24 hours",
        (("200", WebhookCreated, "Rotated"),), body_required=False,
    ),
    Operation(
        "get", WEBHOOKS + "/{webhook}/deliveries", "listWebhookDeliveries",
        "The webhook's latest delivery attempts, newest first",
        (("200", DeliveryList, "Attempts: time, event, status or error, an excerpt"),),
        params=(_limit(200),),
    ),
)
# fmt: on


def _parameters(op: Operation) -> list[Json]:
    """The path's own parameters, in the order it names them, then the operation's."""
    return [PATH_PARAMS[name] for name in re.findall(r"{(\w+)}", op.path)] + list(op.params)


def _request_body(op: Operation) -> Json | None:
    if op.body is None or not isinstance(op.body, type):
        return op.body
    content = {"application/json": {"schema": _schema(op.body)}}
    return {"required": op.body_required, "content": content}


def _problem(description: str) -> Json:
    return {"description": description, "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}}}


def _responses(op: Operation) -> Json:
    responses: Json = {}
    for status, shape, description in op.answers:
        answer = {"description": description} if shape is None else _json(shape, description)
        responses[status] = {**answer, "links": op.links} if op.links else answer
    responses.update({status: _problem(meaning) for status, meaning in PROBLEMS.items()})
    responses["429"]["headers"] = {"Retry-After": RETRY_AFTER}
    return responses


def _operation(op: Operation) -> Json:
    operation: Json = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "parameters": _parameters(op),
        "responses": _responses(op),
    }
    body = _request_body(op)
    if body is not None:
        operation["requestBody"] = body
    if op.description is not None:
        operation["description"] = op.description
    return operation


BADGE_PARAM: Json = {
    "name": "badge",
    "in": "path",
    "required": True,
    "description": "`{token}.svg`, as the URL the badge was turned on with holds it.",
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{43}\.svg$"},
}


def _badge_path(too_many: Json) -> Json:
    """A status badge: public to whoever holds its URL (README, Status badges)."""
    svg = {"image/svg+xml": {"schema": {"type": "string"}}}
    shown = "The workflow's name and latest result; cacheable for 60 s, with an ETag"
    return {
        "get": {
            "operationId": "badge",
            "summary": "A workflow's status badge (SVG); no key needed, only its URL",
            "security": [],
            "parameters": [BADGE_PARAM],
            "responses": {
                "200": {"description": shown, "content": svg},
                "304": {"description": "Not modified since the ETag of If-None-Match"},
                "404": _problem("No such badge: never made, or turned off"),
                "429": too_many,
            },
        }
    }


JWKS: Json = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
}


def _public() -> Json:
    """The routes that need no key: they answer no problems but the address limit."""
    too_many = {
        **_problem(
            "This address is over its limit on requests without a valid key; retry after "
            "Retry-After seconds"
        ),
        "headers": {"Retry-After": RETRY_AFTER},
    }
    return {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness; no key needed",
                "security": [],
                "responses": {"200": _json(Health, "Up")},
            }
        },
        "/badges/{badge}": _badge_path(too_many),
        "/.well-known/jwks.json": {
            "get": {
                "operationId": "jwks",
                "summary": "The public keys that verify run credentials (JWK Set); no key needed",
                "security": [],
                "responses": {
                    "200": _json(JWKS, "Every key that ever signed a credential"),
                    "429": too_many,
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document; no key needed",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI 3.1 document"),
                    "429": too_many,
                },
            }
        },
    }


def _paths() -> Json:
    paths = _public()
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return paths


def _shapes() -> list[tuple[str, Mode, TypeAdapter[Any]]]:
    """Every shape an operation names: bodies as the API parses them, answers as the
    views dump them."""
    # The submit body and the problems are named by hand (SUBMIT_BODY, _problem), health
    # by the public routes.
    bodies: set[Shape] = {Envelope}
    answers: set[Shape] = {Health, Problem}
    for op in OPERATIONS:
        if isinstance(op.body, type):
            bodies.add(op.body)
        answers.update(shape for _, shape, _ in op.answers if shape is not None)
    modes: list[tuple[Shape, Mode]] = [(m, "validation") for m in bodies]
    modes += [(m, "serialization") for m in answers]
    return [(m.__name__, mode, TypeAdapter(m)) for m, mode in sorted(modes, key=_name)]


def _name(pair: tuple[Shape, Mode]) -> str:
    return pair[0].__name__


def _components() -> Json:
    _, defs = TypeAdapter.json_schemas(_shapes(), ref_template=REF)
    return {
        "schemas": dict(sorted(defs["$defs"].items())),
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An org API key: `Authorization: Bearer assay_<id>_<secret>`.",
            }
        },
    }


@lru_cache(maxsize=1)
def _unroled() -> Json:
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


def _state_role(operation: Json, role: Role) -> None:
    operation[ROLE_EXTENSION] = role.value
    needs = f"Needs an API key with role `{role.value}` or above."
    operation["description"] = " ".join(filter(None, [needs, operation.get("description")]))
    if role is not Role.VIEWER:
        responses = {**operation["responses"], "403": _problem(FORBIDDEN)}
        operation["responses"] = dict(sorted(responses.items()))


def document(roles: Mapping[str, Role]) -> dict[str, Any]:
    """The contract, each authenticated operation stating the role its route declares
    (KeyError for one that declares none: every route must)."""
    doc = copy.deepcopy(_unroled())
    for item in doc["paths"].values():
        for operation in item.values():
            if operation.get("security") != []:
                _state_role(operation, roles[endpoint_of(operation["operationId"])])
    return doc


def rendered(roles: Mapping[str, Role]) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(document(roles), indent=2, sort_keys=False) + "\n"
