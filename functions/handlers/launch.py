"""`launch`: private; called by Cloud Tasks with an OIDC token, to start a step's job
(a LaunchTask) or to stop the execution of a run that was cancelled (a CancelTask)."""

from flask import Request, Response

from shared import wiring
from shared.api.auth.id_tokens import verify_caller
from shared.api.http import guarded, json_response, parse_json, parse_model
from shared.domain.task_bodies import CancelTask, LaunchTask
from shared.platform.config import get_settings
from shared.services.launches import cancel_execution, launch


@guarded
def handle(request: Request) -> Response:
    settings = get_settings()
    verify_caller(
        request.headers.get("Authorization"),
        audience=settings.launch_url,
        allowed=settings.launch_invokers,
    )
    body = parse_json(request)
    if isinstance(body, dict) and "execution_name" in body:
        stop = parse_model(CancelTask, body)
        outcome = cancel_execution(wiring.repositories(), wiring.job_runner(), stop)
    else:
        task = parse_model(LaunchTask, body)
        outcome = launch(
            wiring.repositories(),
            wiring.blob_store(),
            wiring.job_runner(),
            wiring.task_queue(),
            settings,
            task,
            signer=wiring.job_url_signer(),
        )
    return json_response(
        {
            "outcome": outcome.outcome,
            "run_id": outcome.run_id,
            "execution_name": outcome.execution_name,
            "task": request.headers.get("X-CloudTasks-TaskName"),
        }
    )
