"""Submitting a file for validation. The page is a plain multipart form that works
without scripts: its POST submits the file as the API's `submit` does and lands on the
run. With scripts (static/submit.js), a file over `SIGNED_ABOVE` goes straight to the
uploads bucket by signed URL, with its progress shown: the page asks `grant` for the
URL, PUTs the file, then asks `upload` what the upload trigger made of it until it
names a run."""

from __future__ import annotations

import mimetypes

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from shared import wiring
from shared.adapters.storage.layout import safe_filename
from shared.api.http import json_response, parse_json, parse_model
from shared.api.intake import read_upload
from shared.console.app import Context, page
from shared.domain.enums import Role, UploadStatus
from shared.platform.config import get_settings
from shared.platform.errors import AssayError, BadRequest
from shared.services import queries, upload_urls
from shared.services.submissions import submit as submit_file

# Smaller files go with the form itself: one request, no wait for the upload trigger.
SIGNED_ABOVE = 1024 * 1024


class GrantAsk(BaseModel):
    """What the page sends for a signed URL: the workflow and the chosen file's facts."""

    model_config = ConfigDict(extra="forbid")
    workflow: str = Field(min_length=1, max_length=64)
    filename: str = Field(min_length=1, max_length=400)
    content_type: str = Field(default="", max_length=200)
    size_bytes: int = Field(ge=1)


def _form(ctx: Context, status: int = 200, error: AssayError | None = None) -> Response:
    settings = get_settings()
    listed = queries.workflows(ctx.repos, ctx.org_id)
    chosen = ctx.request.values.get("workflow") or ""
    return ctx.render(
        "submit.html",
        status=status,
        workflows=[version for _, version in listed],
        chosen=chosen,
        error=error,
        signed=bool(settings.upload_signer),
        signed_above=SIGNED_ABOVE,
        max_direct=settings.max_upload_bytes,
    )


@page(Role.SUBMITTER)
def form(ctx: Context) -> Response:
    return _form(ctx)


@page(Role.SUBMITTER)
def send(ctx: Context) -> Response:
    """The form's POST: the file as the API's submit takes it, then its run (303). A
    refusal (a file the workflow does not take, too big, empty) is the form again with
    the reason, nothing stored."""
    slug = ctx.request.form.get("workflow") or ""
    if not slug:
        return _form(ctx, 400, BadRequest("choose a workflow to validate the file with"))
    settings = get_settings()
    repos = wiring.repositories()
    try:
        incoming = read_upload(ctx.request, settings.max_upload_bytes)
        result = submit_file(
            repos,
            wiring.blob_store(),
            wiring.task_queue(),
            settings,
            key=ctx.caller,
            slug=slug,
            incoming=incoming,
            admitted=lambda: wiring.admission().submission(repos, settings, ctx.org_id),
        )
    except AssayError as refused:
        return _form(ctx, refused.status, refused)
    return ctx.redirect(f"/orgs/{ctx.org_id}/runs/{result.run.id}")


@page(Role.SUBMITTER)
def grant(ctx: Context) -> Response:
    """A signed URL for the chosen file (JSON). The file's name is made plain here, as a
    person picks files by whatever name they have; the API asks its clients to."""
    ask = parse_model(GrantAsk, parse_json(ctx.request))
    guessed = mimetypes.guess_type(ask.filename)[0]
    body = upload_urls.UploadUrlRequest(
        filename=safe_filename(ask.filename),
        content_type=ask.content_type or guessed or "application/octet-stream",
        size_bytes=ask.size_bytes,
    )
    granted = upload_urls.grant_upload(
        ctx.repos, get_settings(), wiring.upload_signer(), ctx.caller, ask.workflow, body
    )
    status = f"/orgs/{ctx.org_id}/uploads/{granted.upload_id}.json"
    view = {
        "upload_id": granted.upload_id,
        "method": granted.method,
        "url": granted.url,
        "headers": granted.headers,
        "status_url": status,
    }
    return json_response(view, 201, {"Location": status})


@page(Role.VIEWER)
def upload(ctx: Context) -> Response:
    """What the upload trigger made of a granted upload (JSON); 404 until it has seen it."""
    event = queries.granted_upload(ctx.repos, ctx.org_id, ctx.args["upload"])
    run_url = f"/orgs/{ctx.org_id}/runs/{event.run_id}" if event.run_id else None
    view = {
        "status": event.status.value,
        "accepted": event.status is UploadStatus.ACCEPTED,
        "reason": event.reason,
        "run_id": event.run_id,
        "run_url": run_url,
    }
    return json_response(view)
