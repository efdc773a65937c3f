"""`on_upload`: private; Eventarc delivers `google.cloud.storage.object.v1.finalized`
CloudEvents from the uploads bucket with an OIDC token. A CloudEvent function answers
through its status alone: 2xx acknowledges, 5xx asks Eventarc to retry."""

from __future__ import annotations

import logging

import flask
from cloudevents.http import CloudEvent
from pydantic import ValidationError

from shared import wiring
from shared.api.auth.id_tokens import Caller
from shared.api.http import problem, validation_detail
from shared.api.private import private
from shared.platform import logs
from shared.platform.config import get_settings
from shared.platform.errors import AssayError
from shared.services.uploads import FINALIZED, UploadedObject, UploadResult, receive_upload

log = logging.getLogger(__name__)


def handle(event: CloudEvent) -> None:
    logs.begin(flask.request.headers)
    try:
        result = _receive(event)
    except AssayError as exc:
        flask.abort(problem(exc.status, exc.title, exc.detail, exc.headers))
    if result is not None:
        log.info(
            "upload %s",
            result.outcome,
            extra={
                "upload_event": result.event_id,
                "run_id": result.run_id,
                "reason": result.reason,
            },
        )


@private(audience=lambda s: s.upload_url, allowed=lambda s: s.upload_invokers, own_service_url=True)
def _receive(event: CloudEvent, caller: Caller) -> UploadResult | None:
    """The upload's outcome; None for an event that is acknowledged without one."""
    if event["type"] != FINALIZED:
        log.warning("event type %r is not an upload; acknowledged", event["type"])
        return None
    try:
        obj = UploadedObject.model_validate(event.data)
    except ValidationError as exc:
        # Retrying a malformed event cannot help: acknowledge it, loudly.
        log.error("malformed upload event acknowledged: %s", validation_detail(exc))
        return None
    settings = get_settings()
    return receive_upload(
        wiring.repositories(), wiring.blob_store(), wiring.task_queue(), settings, obj
    )
