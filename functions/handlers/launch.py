"""`launch`: private; called by Cloud Tasks with an OIDC token."""

from flask import Request, Response

from shared import wiring
from shared.auth.id_tokens import verify_caller
from shared.config import get_settings
from shared.envelopes import LaunchTask
from shared.http import guarded, json_response, parse_json, parse_model
from shared.services.launches import launch


@guarded
def handle(request: Request) -> Response:
    settings = get_settings()
    verify_caller(
        request.headers.get("Authorization"),
        audience=settings.launch_url,
        allowed=settings.launch_invokers,
    )
    task = parse_model(LaunchTask, parse_json(request))
    outcome = launch(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.job_runner(),
        wiring.task_queue(),
        settings,
        task,
    )
    return json_response(
        {
            "outcome": outcome.outcome,
            "run_id": outcome.run_id,
            "execution_name": outcome.execution_name,
            "task": request.headers.get("X-CloudTasks-TaskName"),
        }
    )
