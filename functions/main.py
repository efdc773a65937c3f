"""Every Assay entry point. Each imports its handler on first call, so a deployed
function loads only what it uses."""

import gc
import importlib
import os
from collections.abc import Callable
from functools import cache
from typing import Any, cast

# Loading is most of a cold start, and while modules load the heap only grows: each of
# the collector's full passes then walks everything loaded so far and frees next to
# nothing. So it pauses while this module, and later a handler, loads (see load_handler),
# and what they loaded then moves to the permanent generation (gc.freeze, as the gc docs
# advise before a fork): re-enabled with it all still young, the collector's next pass,
# on the first request, would walk the whole load once more, and every full pass after.
gc.disable()
try:
    # Assay uses no pydantic plugins; looking for them reads every installed
    # distribution's entry points when the first model is built (~20 ms of a cold start).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

    import functions_framework
    from cloudevents.http import CloudEvent
    from flask import Request, Response, current_app, has_app_context
    from werkzeug.exceptions import HTTPException

    from shared.api.http import problem
    from shared.platform.config import get_settings, on_google_cloud
    from shared.platform.logs import configure

    configure()
    if on_google_cloud():
        # Fail at start, naming what is missing, rather than on the first request.
        get_settings()
    gc.freeze()
finally:
    # Also when the start fails: a process that imported this (a test) keeps collecting.
    gc.enable()


@cache
def load_handler(module: str) -> Callable[..., Any]:
    """A handler's `handle`, imported on its function's first call, the collector paused
    meanwhile as above."""
    gc.disable()
    try:
        handle = importlib.import_module(f"handlers.{module}").handle
        gc.freeze()
        return cast(Callable[..., Any], handle)
    finally:
        gc.enable()


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
    return cast(Response, load_handler("api")(request))


@functions_framework.http
def console(request: Request) -> Response:
    return cast(Response, load_handler("console")(request))


@functions_framework.http
def launch(request: Request) -> Response:
    return cast(Response, load_handler("launch")(request))


@functions_framework.http
def callback(request: Request) -> Response:
    return cast(Response, load_handler("callback")(request))


@functions_framework.http
def purge(request: Request) -> Response:
    return cast(Response, load_handler("purge")(request))


@functions_framework.http
def retry(request: Request) -> Response:
    return cast(Response, load_handler("retry")(request))


@functions_framework.http
def webhooks(request: Request) -> Response:
    return cast(Response, load_handler("webhooks")(request))


@functions_framework.cloud_event
def on_upload(event: CloudEvent) -> None:
    load_handler("upload")(event)
