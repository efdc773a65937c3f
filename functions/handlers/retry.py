"""`retry`: private; called every 5 minutes by Cloud Scheduler to process due
PurgeRetry records."""

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shared import wiring
from shared.auth.id_tokens import verify_caller
from shared.config import get_settings
from shared.http import guarded, json_response, parse_model
from shared.services import purge


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_size: int = Field(default=50, ge=1, le=500)


@guarded
def handle(request: Request) -> Response:
    settings = get_settings()
    verify_caller(
        request.headers.get("Authorization"),
        audience=settings.retry_url,
        allowed=settings.retry_invokers,
    )
    body = parse_model(RetryRequest, request.get_json(silent=True) or {})
    report = purge.process_retries(
        wiring.repositories(), wiring.blob_store(), settings, batch_size=body.batch_size
    )
    return json_response(vars(report))
