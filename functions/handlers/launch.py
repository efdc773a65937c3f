"""`launch`: private; called by Cloud Tasks with an OIDC token, to start a step's job
(a LaunchTask) or to stop the execution of a run that was cancelled (a CancelTask)."""

from flask import Request, Response

from shared import wiring
from shared.api.auth.id_tokens import Caller
from shared.api.http import guarded, json_response, parse_as, parse_json
from shared.api.private import private
from shared.domain.task_bodies import TASKS, CancelTask, LaunchTask
from shared.platform.config import get_settings
from shared.services.launches import LaunchOutcome, cancel_execution, launch


@guarded
@private(audience=lambda s: s.launch_url, allowed=lambda s: s.launch_invokers)
def handle(request: Request, caller: Caller) -> Response:
    outcome = _perform(parse_as(TASKS, parse_json(request)))
    return json_response(
        {
            "outcome": outcome.outcome,
            "run_id": outcome.run_id,
            "execution_name": outcome.execution_name,
            "task": request.headers.get("X-CloudTasks-TaskName"),
        }
    )


def _perform(task: LaunchTask | CancelTask) -> LaunchOutcome:
    if isinstance(task, CancelTask):
        return cancel_execution(wiring.repositories(), wiring.job_runner(), task)
    return launch(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.job_runner(),
        wiring.task_queue(),
        get_settings(),
        task,
        signer=wiring.job_url_signer(),
    )
