"""Every Assay entry point. Each imports its handler on first call, so a deployed
function loads only what it uses."""

import os

# Assay uses no pydantic plugins; looking for them reads every installed distribution's
# entry points when the first model is built (~20 ms of each cold start).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request, Response, current_app, has_app_context
from werkzeug.exceptions import HTTPException

from shared.config import get_settings, on_google_cloud
from shared.http import problem
from shared.logs import configure

configure()
if on_google_cloud():
    # Fail at start, naming what is missing, rather than on the first request.
    get_settings()


def _framework_error(error: HTTPException) -> Response:
    """What the framework refuses before a function runs (a path its router cannot
    match, such as one with a newline) is a problem+json too, not an HTML page."""
    status = error.code or 500
    return problem(status, error.name, error.description or error.name)


if has_app_context():
    # functions-framework loads this module inside its Flask app's context.
    current_app.register_error_handler(HTTPException, _framework_error)


@functions_framework.http
def api(request: Request) -> Response:
    from handlers.api import handle

    return handle(request)


@functions_framework.http
def launch(request: Request) -> Response:
    from handlers.launch import handle

    return handle(request)


@functions_framework.http
def callback(request: Request) -> Response:
    from handlers.callback import handle

    return handle(request)


@functions_framework.http
def purge(request: Request) -> Response:
    from handlers.purge import handle

    return handle(request)


@functions_framework.http
def retry(request: Request) -> Response:
    from handlers.retry import handle

    return handle(request)


@functions_framework.cloud_event
def on_upload(event: CloudEvent) -> None:
    from handlers.upload import handle

    handle(event)
