"""`webhooks`: private; called by Cloud Tasks with an OIDC token, to fan a run's event
out to the org's webhooks (an EventTask) or to deliver it to one (a DeliveryTask).
A delivery that did not get a 2xx answers 503 with Retry-After, so Cloud Tasks tries
again (decision record 0087)."""

from flask import Request, Response

from shared import wiring
from shared.api.auth.id_tokens import Caller
from shared.api.http import guarded, json_response, parse_json, parse_model
from shared.api.private import private
from shared.domain.webhooks import DeliveryTask, EventTask
from shared.platform.config import get_settings
from shared.platform.errors import BadRequest
from shared.services import webhooks


def _retry_count(request: Request) -> int:
    raw = request.headers.get("X-CloudTasks-TaskRetryCount", "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0


@guarded
@private(audience=lambda s: s.webhooks_url, allowed=lambda s: s.webhooks_invokers)
def handle(request: Request, caller: Caller) -> Response:
    body = parse_json(request)
    kind = body.get("kind") if isinstance(body, dict) else None
    settings, repos = get_settings(), wiring.repositories()
    if kind == "webhook_event":
        queued = webhooks.fan_out(repos, settings, parse_model(EventTask, body))
        return json_response({"outcome": "fanned_out", "deliveries": queued})
    if kind != "webhook_delivery":
        raise BadRequest("the body is neither a webhook event nor a delivery task")
    task = parse_model(DeliveryTask, body)
    outcome = webhooks.deliver(repos, settings, task, _retry_count(request))
    webhooks.retry_later(outcome)
    return json_response({"outcome": outcome.value, "event_id": task.event_id})
