"""`callback`: private; called by validator jobs with an ID token whose audience is
this function's own URL. Any validator job may call it; a step's result is taken only
from that step's own validator's job (the service checks the caller against the step)."""

from flask import Request, Response

from shared import wiring
from shared.api.auth.id_tokens import Caller
from shared.api.http import guarded, json_response, loads, parse_model, read_body
from shared.api.private import private
from shared.contract.envelopes import MAX_CALLBACK_BODY_BYTES, CallbackBody
from shared.platform.config import get_settings
from shared.services.callbacks import handle_callback


@guarded
@private(audience=lambda s: s.callback_url, allowed=lambda s: s.callback_invokers)
def handle(request: Request, caller: Caller) -> Response:
    body = parse_model(CallbackBody, loads(read_body(request, MAX_CALLBACK_BODY_BYTES)))
    outcome = handle_callback(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        body,
        caller=caller.email,
    )
    run = outcome.run
    return json_response(
        {
            "replay": outcome.replay,
            "run_id": body.run_id,
            "status": run.status if run else None,
        }
    )
