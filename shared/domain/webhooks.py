"""Signed webhooks (decision record 0087): an org's subscriptions, their secrets, the
events Assay sends them, the signature a receiver checks, and each delivery attempt.

A webhook holds one secret, or two for the day after a rotation: both sign, so a
receiver that has not yet switched keeps accepting deliveries. The secret is an HMAC
key; it is shown once, when made, and never returned again."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from shared.domain.models import Model
from shared.platform.ids import ID_PATTERN

# A rotated-out secret keeps signing this long, and Assay stops trying a delivery this
# long after its event: the same day a receiver may be down, or slow to switch secrets.
OVERLAP = timedelta(hours=24)
DELIVERY_WINDOW = timedelta(hours=24)
SIGNATURE_HEADER = "Assay-Signature"
EVENT_ID_HEADER = "Assay-Event-Id"
# How much of a receiver's answer an attempt keeps: enough to read why it refused.
EXCERPT_CHARS = 200
# Firestore's TTL deletes an attempt's record this long after it: it tells an admin
# why deliveries failed lately, and fences a duplicate dispatch (a day at most).
ATTEMPT_RECORD_DAYS = 30
MAX_WEBHOOKS = 20


class EventType(StrEnum):
    RUN_COMPLETED = "run.completed"


class WebhookSecret(Model):
    value: str
    created_at: datetime
    # Set when a rotation replaced it: it signs until then, then is dropped.
    retires_at: datetime | None = None

    def signs_at(self, now: datetime) -> bool:
        return self.retires_at is None or now < self.retires_at


class Webhook(Model):
    id: str
    org_id: str
    url: str
    events: list[EventType]
    created_at: datetime
    created_by: str
    # Newest first: the current secret, then one being retired after a rotation.
    secrets: list[WebhookSecret]

    def signing_secrets(self, now: datetime) -> list[str]:
        return [s.value for s in self.secrets if s.signs_at(now)]

    def rotated(self, secret: str, now: datetime) -> Webhook:
        kept = [s for s in self.secrets if s.retires_at is None][:1]
        retiring = [s.model_copy(update={"retires_at": now + OVERLAP}) for s in kept]
        fresh = WebhookSecret(value=secret, created_at=now)
        return self.model_copy(update={"secrets": [fresh, *retiring]})


class DeliveryAttempt(Model):
    """One try of one event at one webhook; `id` derives from (event, webhook, the
    task's retry count), so a task dispatched twice for one try is tried once."""

    id: str
    org_id: str
    webhook_id: str
    event_id: str
    event_type: EventType
    attempt: int
    at: datetime
    status_code: int | None = None
    error: str | None = None
    excerpt: str = ""
    delivered: bool = False
    expire_at: datetime | None = None


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<t>.<raw body>" under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex>[,v1=<hex>]`: one v1 per secret that signs now."""
    values = ",".join(f"v1={signature(s, timestamp, body)}" for s in secrets_)
    return f"t={timestamp},{values}"


class EventTask(Model):
    """The body of the task that fans an event out to the org's webhooks."""

    # A body from a newer or broken producer fails loudly, as the launch tasks' do.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: Literal["webhook_event"] = "webhook_event"
    org_id: str = Field(min_length=1, max_length=100)
    run_id: str = Field(pattern=ID_PATTERN)


class DeliveryTask(Model):
    """The body of one webhook's delivery task. It carries the event's bytes, so every
    attempt sends the same body with the same event id."""

    # A body from a newer or broken producer fails loudly, as the launch tasks' do.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: Literal["webhook_delivery"] = "webhook_delivery"
    org_id: str = Field(min_length=1, max_length=100)
    webhook_id: str = Field(pattern=ID_PATTERN)
    event_id: str
    event_type: EventType
    created_at: datetime
    body: str
