"""`callback`: private; called by validator jobs with an ID token whose audience is
this function's own URL."""

from flask import Request, Response

from shared import wiring
from shared.auth.id_tokens import verify_caller
from shared.config import get_settings
from shared.envelopes import CallbackBody
from shared.http import guarded, json_response, parse_json, parse_model
from shared.services.callbacks import handle_callback


@guarded
def handle(request: Request) -> Response:
    settings = get_settings()
    verify_caller(
        request.headers.get("Authorization"),
        audience=settings.callback_url,
        allowed=settings.callback_invokers,
    )
    body = parse_model(CallbackBody, parse_json(request))
    outcome = handle_callback(
        wiring.repositories(), wiring.blob_store(), wiring.task_queue(), settings, body
    )
    run = outcome.run
    return json_response(
        {
            "replay": outcome.replay,
            "run_id": body.run_id,
            "status": run.status if run else None,
        }
    )
