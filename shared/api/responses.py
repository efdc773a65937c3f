"""The API's own shapes: what each response holds, and the two bodies no service defines.
shared/api/views.py builds every object it returns through these models, and
shared/api/openapi.py documents them from the same models, so what the API sends and what
its contract says cannot differ.

A view is its domain model minus what the API never shows (a submission's content,
a step's claim bookkeeping, a pin's storage address) plus what it adds: hidden fields are
`exclude=True` for the output and `SkipJsonSchema` for the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, computed_field
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

# pydantic reads typing's TypedDict only from Python 3.12
from typing_extensions import TypedDict

from shared.domain.enums import Execution
from shared.domain.models import (
    AuditEntry,
    Finding,
    ResourcePin,
    Retention,
    StepRun,
    Submission,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowStep,
)

# Built on first use, like the domain models: views run in the api's cold start.
_DEFERRED = ConfigDict(defer_build=True)


class ResourcePinView(ResourcePin):
    """A pinned resource: its content by checksum, not where it is stored."""

    uri: SkipJsonSchema[str] = Field(exclude=True)


class WorkflowStepView(WorkflowStep):
    """A step as saved."""

    # A view narrows what the domain model's collection holds to that item's view.
    resources: dict[str, ResourcePinView] = Field(default_factory=dict)  # type: ignore[assignment]


class StepRunView(StepRun):
    """One step of a run; the launch's claim on it is internal."""

    callback_id: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    claim_expires_at: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)


class SubmissionView(Submission):
    """A submission's record, never its content: `content_stored` says whether a copy
    is still kept (the retention policy decides for how long)."""

    content: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    input_file: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    purge_retry_since: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_stored(self) -> bool:
        return self.content_purged_at is None and bool(self.content or self.input_file)


class RunView(ValidationRun):
    """A run with its steps, the configuration it ran and its submission (null once the
    submission's record is gone)."""

    config: list[WorkflowStepView]  # type: ignore[assignment]
    steps: list[StepRunView]  # type: ignore[assignment]
    submission: SubmissionView | None


class WorkflowView(Workflow):
    """A workflow at one version: the version's fields beside the workflow's."""

    version: int
    retention: Retention
    allowed_file_types: list[str]
    execution: Execution
    warnings: list[str]
    steps: list[WorkflowStepView]
    version_created_at: datetime


class ResourceView(WorkflowResource):
    """A workflow's resource: its name, checksum and size, not where it is stored."""

    id: SkipJsonSchema[str] = Field(exclude=True)
    org_id: SkipJsonSchema[str] = Field(exclude=True)
    uri: SkipJsonSchema[str] = Field(exclude=True)


class UploadedResource(ResourceView):
    """The resource stored; `new_version` names the version saved to pin the new content
    (null when the latest version does not use the resource)."""

    new_version: int | None


class AuditEntryView(AuditEntry):
    """One change to your organization: who made it (`key:<id>`, `member:<id>` or
    `operator:<name>`), when, what, to which object, and through which route; `details`
    holds facts such as a version number, never content."""


# A grant's expiry has always been written `+00:00` (isoformat), where pydantic writes `Z`.
GrantExpiry = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class UploadGrant(BaseModel):
    """PUT the file to `url` with exactly `headers` before `expires_at`; then
    `status_url` says what the upload trigger made of it."""

    model_config = _DEFERRED
    upload_id: str
    object_name: str
    method: Literal["PUT"]
    url: str = Field(json_schema_extra={"format": "uri"})
    headers: dict[str, str]
    expires_at: GrantExpiry
    # The route knows the organization the status URL is under.
    status_url: str | SkipJsonSchema[None] = Field(default=None, exclude_if=lambda v: v is None)


# The rest are TypedDicts, not models: the routes build these wrappers as dicts, and a
# TypedDict costs the api's start nothing (twenty models would cost it ~6 ms).


class Submitted(TypedDict):
    run: RunView
    submission: SubmissionView


class RunPage(TypedDict):
    items: list[RunView]
    next_page_token: str | None


class FindingPage(TypedDict):
    items: list[Finding]
    next_page_token: str | None


class AuditPage(TypedDict):
    items: list[AuditEntryView]
    next_page_token: str | None


class WorkflowList(TypedDict):
    items: list[WorkflowView]


class ResourceList(TypedDict):
    items: list[ResourceView]


class ValidatorView(TypedDict):
    name: str
    version: str
    file_types: list[str]
    # The JSON Schema a step's `config` for this validator must satisfy.
    config_schema: dict[str, Any]


class ValidatorList(TypedDict):
    items: list[ValidatorView]


class Health(TypedDict):
    status: Literal["ok"]


class CredentialView(TypedDict):
    """A run's signed credential: a compact JWS whose payload is a W3C Verifiable
    Credential in its JWT form, verifiable with the keys at /.well-known/jwks.json
    (README, Verifying a credential; decision record 0086)."""

    credential: str


class BadgeView(TypedDict):
    """A workflow's status badge (README, Status badges): its public URL, an SVG that
    anyone holding it may fetch without a key."""

    url: str
    created: bool  # False: the badge was already on, and keeps its URL


class Problem(TypedDict):
    """RFC 9457 problem details; `detail` says what to change."""

    type: str
    title: str
    status: int
    detail: str


class Envelope(TypedDict):
    """A file as JSON: `content` and no keys but these. Any other JSON body is the file
    itself."""

    # Documents shared/api/intake.py's ENVELOPE_KEYS (a test keeps the two the same).
    content: str
    content_encoding: NotRequired[Literal["base64"]]
    filename: NotRequired[str]
    content_type: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]
    project_id: NotRequired[str]


class RerunRequest(BaseModel):
    """The body of a re-run, optional."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    # Who asks, when the client acts for a person; else the API key is the caller.
    user: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
