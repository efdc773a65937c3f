"""`retry`: private; called every 5 minutes by Cloud Scheduler. Processes due
PurgeRetry records, then reconciles runs whose next event is overdue."""

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shared import wiring
from shared.api.auth.id_tokens import Caller
from shared.api.http import guarded, json_response, parse_model
from shared.api.private import private
from shared.platform.clock import utcnow
from shared.platform.config import get_settings
from shared.services import purge
from shared.services.reconcile import Context, reconcile


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    batch_size: int = Field(default=50, ge=1, le=500)


@guarded
@private(audience=lambda s: s.retry_url, allowed=lambda s: s.retry_invokers)
def handle(request: Request, caller: Caller) -> Response:
    settings = get_settings()
    body = parse_model(RetryRequest, request.get_json(silent=True) or {})
    repos, store = wiring.repositories(), wiring.blob_store()
    report = purge.process_retries(repos, store, settings, batch_size=body.batch_size)
    context = Context(repos, store, wiring.task_queue(), wiring.job_runner(), settings, utcnow)
    healed = reconcile(context, batch_size=body.batch_size)
    return json_response({**vars(report), "reconcile": healed.as_dict()})
