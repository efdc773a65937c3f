"""The gate of every private function: its caller's Google ID token is verified before
the handler runs, so a handler cannot forget to, nor read its body first.

    @guarded
    @private(audience=lambda s: s.launch_url, allowed=lambda s: s.launch_invokers)
    def handle(request: Request, caller: Caller) -> Response: ...

The gate raises Unauthorized or Forbidden; under `guarded` they become problem+json
401s and 403s. The audience and allow-list are read from the settings on every call,
as they were in each handler, so a test that changes the environment is obeyed."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import TypeVar

import flask

from shared.api.auth.id_tokens import Caller, own_service_audience, verify_caller
from shared.platform.config import Settings, get_settings

T = TypeVar("T")
R = TypeVar("R")


def private(
    *,
    audience: Callable[[Settings], str],
    allowed: Callable[[Settings], Collection[str]],
    own_service_url: bool = False,
) -> Callable[[Callable[[T, Caller], R]], Callable[[T], R]]:
    """Verifies the current request's caller, then calls the handler with what it was
    called with and the verified caller. `own_service_url` also accepts a token minted
    for this Cloud Run service's own URL, as Eventarc mints them (see
    `own_service_audience`). The token is read from the request being served (flask's),
    so an HTTP function and a CloudEvent function are gated alike."""

    def decorate(handler: Callable[[T, Caller], R]) -> Callable[[T], R]:
        @functools.wraps(handler)
        def gated(received: T) -> R:
            settings = get_settings()
            caller = verify_caller(
                flask.request.headers.get("Authorization"),
                audience=audience(settings),
                allowed=allowed(settings),
                audience_pattern=own_service_audience() if own_service_url else None,
            )
            return handler(received, caller)

        return gated

    return decorate
