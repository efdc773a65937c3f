"""`launch`: private; called by Cloud Tasks with an OIDC token."""

from flask import Request, Response

from shared import wiring
from shared.auth.id_tokens import bearer_token, verify_id_token
from shared.config import get_settings
from shared.envelopes import LaunchTask
from shared.http import guarded, json_response, parse_json, parse_model
from shared.services.launches import launch


@guarded
def handle(request: Request) -> Response:
    settings = get_settings()
    verify_id_token(
        bearer_token(request.headers.get("Authorization")),
        audience=settings.launch_url,
        allowed_emails=settings.launch_invokers,
        certs_url=settings.certs_url,
    )
    task = parse_model(LaunchTask, parse_json(request))
    outcome = launch(
        wiring.repositories(), wiring.blob_store(), wiring.job_runner(), settings, task
    )
    return json_response(
        {
            "outcome": outcome.outcome,
            "run_id": outcome.run_id,
            "execution_name": outcome.execution_name,
            "task": request.headers.get("X-CloudTasks-TaskName"),
        }
    )
