"""Signed webhooks (decision record 0087): an org's admins register URLs for events,
and Assay POSTs each event to them, signed, through Cloud Tasks.

A run's end queues one named task (`run_ended`, once per run however often it is
called); the webhooks function fans it out to one task per subscribed webhook
(`fan_out`), so a slow receiver holds up nobody else's; each of those is delivered
(`deliver`) until a 2xx, or until a day after the event, with the same event id and
body on every attempt. Each attempt is recorded, and tried once however often Cloud
Tasks dispatches it (its record is claimed first)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.adapters import webhook_http
from shared.adapters.tasks import TaskQueue, get_queue
from shared.domain.enums import AuditAction, RetentionPolicy
from shared.domain.models import ValidationRun
from shared.domain.webhooks import (
    ATTEMPT_RECORD_DAYS,
    DELIVERY_WINDOW,
    EVENT_ID_HEADER,
    EXCERPT_CHARS,
    MAX_WEBHOOKS,
    SIGNATURE_HEADER,
    DeliveryAttempt,
    DeliveryTask,
    EventTask,
    EventType,
    Webhook,
    WebhookSecret,
    new_secret,
    signature_header,
)
from shared.persistence.ports import Repositories
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import Conflict, NotFound, Transient, Unprocessable
from shared.platform.ids import new_id, stable_id
from shared.services import audit

log = logging.getLogger(__name__)

# What Cloud Tasks is asked to wait before the next try (it also backs off itself).
RETRY_AFTER_SECONDS = "30"
_QUEUES: dict[int, tuple[Settings, TaskQueue]] = {}


class Outcome(StrEnum):
    DELIVERED = "delivered"
    ALREADY_DELIVERED = "already_delivered"  # an earlier attempt got its 2xx
    DUPLICATE = "duplicate"  # this try is being made by another dispatch: try again
    GONE = "gone"  # the webhook was deleted
    EXPIRED = "expired"  # a day after the event: no more tries
    FAILED = "failed"  # this try failed; Cloud Tasks tries again


# -- the org's webhooks -------------------------------------------------------------


def _events(raw: list[str]) -> list[EventType]:
    try:
        events = sorted({EventType(e) for e in raw})
    except ValueError:
        allowed = ", ".join(EventType)
        raise Unprocessable(f"events must be among {allowed}") from None
    if not events:
        raise Unprocessable("events must name at least one event")
    return events


def create(
    repos: Repositories,
    settings: Settings,
    org_id: str,
    url: str,
    events: list[str],
    by: audit.By,
    now: Clock = utcnow,
    resolve: webhook_http.Resolver = webhook_http.system_resolver,
) -> tuple[Webhook, str]:
    """The new webhook and its secret (shown this once). RefusedUrl (422) for a URL that
    is not https or reaches a private, loopback, link-local or metadata address."""
    webhook_http.check(url, allow_loopback=settings.webhooks_allow_loopback, resolve=resolve)
    store = repos.webhooks
    if len(store.all(org_id)) >= MAX_WEBHOOKS:
        raise Conflict(f"organization {org_id!r} has {MAX_WEBHOOKS} webhooks, the most it may")
    at, secret = now(), new_secret()
    hook = Webhook(
        id=new_id(),
        org_id=org_id,
        url=url,
        events=_events(events),
        created_at=at,
        created_by=by.actor.name,
        secrets=[WebhookSecret(value=secret, created_at=at)],
    )
    store.create(hook)
    _recorded(repos, hook, AuditAction.WEBHOOK_CREATED, by, {"url": url})
    return hook, secret


def listed(repos: Repositories, org_id: str) -> list[Webhook]:
    return repos.webhooks.all(org_id)


def get(repos: Repositories, org_id: str, webhook_id: str) -> Webhook:
    hook = repos.webhooks.find(org_id, webhook_id)
    if hook is None:
        raise NotFound(f"there is no webhook {webhook_id[:64]!r} in organization {org_id!r}")
    return hook


def delete(repos: Repositories, org_id: str, webhook_id: str, by: audit.By) -> None:
    hook = get(repos, org_id, webhook_id)
    if repos.webhooks.delete(org_id, webhook_id):
        _recorded(repos, hook, AuditAction.WEBHOOK_DELETED, by, {"url": hook.url})


def rotate(
    repos: Repositories, org_id: str, webhook_id: str, by: audit.By, now: Clock = utcnow
) -> tuple[Webhook, str]:
    """The webhook with a new secret (shown this once); the one it replaces keeps
    signing for a day beside it."""
    secret = new_secret()
    hook = get(repos, org_id, webhook_id).rotated(secret, now())
    repos.webhooks.save(hook)
    _recorded(repos, hook, AuditAction.WEBHOOK_ROTATED, by, {})
    return hook, secret


def attempts(
    repos: Repositories, org_id: str, webhook_id: str, limit: int = 50
) -> list[DeliveryAttempt]:
    get(repos, org_id, webhook_id)
    return repos.webhooks.attempts(org_id, webhook_id, limit)


def _recorded(
    repos: Repositories, hook: Webhook, action: AuditAction, by: audit.By, details: dict[str, Any]
) -> None:
    target = f"webhook:{hook.id}"
    audit.record(repos, hook.org_id, by.actor, action, target, by.route, details)


# -- events -------------------------------------------------------------------------


def _queue(settings: Settings) -> TaskQueue:
    """The webhooks queue's client, one per settings object (a client is costly)."""
    kept = _QUEUES.get(id(settings))
    if kept is None or kept[0] is not settings:
        if len(_QUEUES) > 8:  # settings are rebuilt only by tests; keep a few
            _QUEUES.clear()
        queue_settings = settings.model_copy(update={"tasks_queue": settings.webhooks_queue})
        kept = _QUEUES[id(settings)] = (settings, get_queue(queue_settings))
    return kept[1]


def event_id(event_type: EventType, run_id: str) -> str:
    return "evt_" + stable_id(event_type.value, run_id)


def run_ended(settings: Settings, run: ValidationRun) -> None:
    """Queues the run's `run.completed` event (best effort, once per run: the task is
    named from the run). Without a webhooks function (ASSAY_WEBHOOKS_URL) nothing is
    sent."""
    if not settings.webhooks_url or not run.terminal:
        return
    task = EventTask(org_id=run.org_id, run_id=run.id)
    try:
        _queue(settings).enqueue(
            "webhook-event-" + stable_id(run.id),
            settings.webhooks_url,
            task.model_dump(mode="json"),
            audience=settings.webhooks_url,
        )
    except Exception:
        log.warning("could not queue the run's webhook event", exc_info=True)


def run_data(run: ValidationRun) -> dict[str, Any]:
    """The event's `data`. A DO_NOT_STORE run's names only ids, status, result and
    counts: nothing about what was submitted or how the workflow saw it."""
    counts = run.summary.model_dump(mode="json")
    data: dict[str, Any] = {
        "run_id": run.id,
        "org_id": run.org_id,
        "workflow_id": run.workflow_id,
        "submission_id": run.submission_id,
        "status": run.status.value,
        "result": run.result.value,
        "counts": counts,
    }
    if run.submission_retention is RetentionPolicy.DO_NOT_STORE:
        return data
    base = f"/v1/orgs/{run.org_id}/runs/{run.id}"
    return data | {
        "workflow_slug": run.workflow_slug,
        "workflow_version": run.workflow_version,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "links": {"run": base, "findings": f"{base}/findings", "evidence": f"{base}/evidence"},
    }


def _event_body(run: ValidationRun, event: str, created_at: datetime) -> str:
    payload = {
        "id": event,
        "type": EventType.RUN_COMPLETED.value,
        "created_at": created_at.isoformat(),
        "data": run_data(run),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def fan_out(repos: Repositories, settings: Settings, task: EventTask) -> int:
    """Queues the event's delivery to each webhook subscribed to it; how many. Safe to
    repeat: each delivery task is named from (event, webhook)."""
    run = repos.runs.find(task.run_id)
    if run is None or run.org_id != task.org_id or not run.terminal:
        return 0
    hooks = [h for h in repos.webhooks.all(run.org_id) if EventType.RUN_COMPLETED in h.events]
    if not hooks:
        return 0
    event = event_id(EventType.RUN_COMPLETED, run.id)
    created_at = run.ended_at or utcnow()
    body = _event_body(run, event, created_at)
    for hook in hooks:
        delivery = DeliveryTask(
            org_id=run.org_id,
            webhook_id=hook.id,
            event_id=event,
            event_type=EventType.RUN_COMPLETED,
            created_at=created_at,
            body=body,
        )
        _queue(settings).enqueue(
            "webhook-" + stable_id(event, hook.id),
            settings.webhooks_url,
            delivery.model_dump(mode="json"),
            audience=settings.webhooks_url,
        )
    return len(hooks)


# -- delivery -----------------------------------------------------------------------


def _attempt(task: DeliveryTask, retry: int, at: datetime) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=stable_id(task.event_id, task.webhook_id, retry),
        org_id=task.org_id,
        webhook_id=task.webhook_id,
        event_id=task.event_id,
        event_type=task.event_type,
        attempt=retry + 1,
        at=at,
        expire_at=at + timedelta(days=ATTEMPT_RECORD_DAYS),
    )


def _send(
    hook: Webhook,
    task: DeliveryTask,
    attempt: DeliveryAttempt,
    settings: Settings,
    resolve: webhook_http.Resolver,
) -> DeliveryAttempt:
    """Checks the URL again (pinning the address it resolved to), signs and POSTs."""
    body = task.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Assay-Webhooks/1",
        EVENT_ID_HEADER: task.event_id,
        SIGNATURE_HEADER: signature_header(
            hook.signing_secrets(attempt.at), int(attempt.at.timestamp()), body
        ),
    }
    try:
        target = webhook_http.check(
            hook.url, allow_loopback=settings.webhooks_allow_loopback, resolve=resolve
        )
        answer = webhook_http.post(target, body, headers)
    except webhook_http.RefusedUrl as exc:
        return attempt.model_copy(update={"error": exc.detail[:EXCERPT_CHARS]})
    except webhook_http.Unreachable as exc:
        return attempt.model_copy(update={"error": str(exc)[:EXCERPT_CHARS]})
    return attempt.model_copy(
        update={
            "status_code": answer.status,
            "excerpt": answer.excerpt[:EXCERPT_CHARS],
            "delivered": 200 <= answer.status < 300,
        }
    )


def deliver(
    repos: Repositories,
    settings: Settings,
    task: DeliveryTask,
    retry: int,
    now: Clock = utcnow,
    resolve: webhook_http.Resolver = webhook_http.system_resolver,
) -> Outcome:
    """One try of one event at one webhook (`retry`: Cloud Tasks' count of earlier
    tries). FAILED asks for another try; every other outcome ends the task."""
    store, at = repos.webhooks, now()
    hook = store.find(task.org_id, task.webhook_id)
    if hook is None:
        return Outcome.GONE
    if store.delivered(hook.id, task.event_id):
        return Outcome.ALREADY_DELIVERED
    if at - task.created_at > DELIVERY_WINDOW:
        return Outcome.EXPIRED
    attempt = _attempt(task, retry, at)
    if not store.claim_attempt(attempt):
        return Outcome.DUPLICATE
    attempt = _send(hook, task, attempt, settings, resolve)
    store.record_attempt(attempt)
    return Outcome.DELIVERED if attempt.delivered else Outcome.FAILED


def retry_later(outcome: Outcome) -> None:
    """The project's retry signal for Cloud Tasks: 503 with Retry-After. A duplicate
    dispatch asks for one too: the try it duplicates may yet fail, and the next try
    finds the delivery made if it did not."""
    if outcome in (Outcome.FAILED, Outcome.DUPLICATE):
        raise Transient(
            "the webhook's receiver did not answer 2xx; Cloud Tasks will try again",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
