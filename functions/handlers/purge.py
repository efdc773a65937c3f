"""`purge`: private; called hourly by Cloud Scheduler to sweep expired content, and by
the queue with `{"submission_id": ...}` for an immediate DO_NOT_STORE purge."""

import time

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shared import wiring
from shared.api.auth.id_tokens import Caller
from shared.api.http import guarded, json_response, parse_model
from shared.api.private import private
from shared.persistence.firestore import sweeps  # noqa: F401  (read by every sweep: load at start)
from shared.platform import logs
from shared.platform.config import get_settings
from shared.services import purge


class PurgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    # A page is a projection of a few fields: 500 of them are two commits' worth of marks.
    batch_size: int = Field(default=500, ge=1, le=500)
    max_batches: int = Field(default=10, ge=1, le=1000)
    submission_id: str | None = None


@guarded
@private(audience=lambda s: s.purge_url, allowed=lambda s: s.purge_invokers)
def handle(request: Request, caller: Caller) -> Response:
    # The sweep's budget starts after the token check: milliseconds, or a certificate
    # fetch of at most seconds, well inside the minute left after the deadline.
    started = time.monotonic()
    settings = get_settings()
    body = parse_model(PurgeRequest, request.get_json(silent=True) or {})
    repos, store = wiring.repositories(), wiring.blob_store()
    if body.submission_id is not None:
        submission = repos.submissions.find(body.submission_id)
        org_id = submission.org_id if submission else ""
        logs.bind(submission_id=body.submission_id, org_id=org_id)
        outcome = purge.attempt(repos, store, settings, body.submission_id, org_id)
        return json_response({"submission_id": body.submission_id, "outcome": outcome})
    report = purge.purge_expired(
        repos,
        store,
        settings,
        batch_size=body.batch_size,
        max_batches=body.max_batches,
        deadline=started + settings.purge_deadline_seconds,
    )
    return json_response(vars(report))
