"""What the API shows of a webhook and of its delivery attempts, and the body that
registers one (decision record 0087). Never a secret, but in the one answer that made
it (registration, rotation). shared/api/openapi.py documents these same models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# pydantic reads typing's TypedDict only from Python 3.12
from typing_extensions import TypedDict

from shared.domain.webhooks import DeliveryAttempt, EventType, Webhook


class WebhookRequest(BaseModel):
    """The body of `POST /v1/orgs/{org}/webhooks`: an https URL (checked: it must not
    reach a private, loopback, link-local, CGNAT, multicast or metadata address) and
    the events to send it."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=10)


class WebhookView(BaseModel):
    """A webhook. After a rotation, the previous secret signs beside the new one until
    `previous_secret_signs_until`."""

    id: str
    url: str
    events: list[EventType]
    created_at: datetime
    created_by: str
    previous_secret_signs_until: datetime | None = None


class WebhookCreated(WebhookView):
    """A webhook with its secret: shown in this answer only (keep it)."""

    secret: str


class WebhookList(TypedDict):
    items: list[WebhookView]


class DeliveryAttemptView(BaseModel):
    """One try of an event at a webhook: its HTTP status, or the error when there was
    none, and the start of the receiver's answer."""

    event_id: str
    event_type: EventType
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    excerpt: str
    delivered: bool


class DeliveryList(TypedDict):
    items: list[DeliveryAttemptView]


def _retiring(hook: Webhook) -> datetime | None:
    return next((s.retires_at for s in hook.secrets if s.retires_at is not None), None)


def webhook_view(hook: Webhook, secret: str | None = None) -> dict[str, Any]:
    fields = {**dict(hook), "previous_secret_signs_until": _retiring(hook)}
    if secret is None:
        return WebhookView.model_validate(fields).model_dump(mode="json")
    return WebhookCreated.model_validate(fields | {"secret": secret}).model_dump(mode="json")


def attempt_view(attempt: DeliveryAttempt) -> dict[str, Any]:
    view = DeliveryAttemptView.model_validate(attempt, from_attributes=True)
    return view.model_dump(mode="json")
