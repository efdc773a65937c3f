"""A status badge as HTTP: its SVG (Shields' flat style, drawn by pybadges, which
escapes the text it is given) and the headers that let a CDN keep it a minute."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Request, Response

from shared.api.responses import BadgeView
from shared.services.badges import Shown

SVG_TYPE = "image/svg+xml"
# A CDN (or GitHub's image proxy) keeps it a minute: a new result shows within one.
CACHE_CONTROL = "public, max-age=60"
SUFFIX = ".svg"


def token_of(segment: str) -> str | None:
    """The token in the path's last segment, `{token}.svg`; None for any other shape."""
    return segment[: -len(SUFFIX)] if segment.endswith(SUFFIX) else None


def svg(shown: Shown) -> str:
    from pybadges import badge  # loaded by the first badge, not at the api's cold start

    drawn: Any = badge(
        left_text=shown.name,
        right_text=shown.look.message,
        right_color=shown.look.color,
    )
    return str(drawn)


def badge_response(request: Request, shown: Shown) -> Response:
    """The SVG with its cache headers and a strong ETag of its bytes (a conditional
    GET whose tag still matches gets 304 and no body)."""
    body = svg(shown).encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    response = Response(body, mimetype=SVG_TYPE)
    response.set_etag(etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    # An SVG opened directly runs no script of ours and takes no part in a page.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.make_conditional(request)  # in place: a 304 keeps the headers, no body
    return response


def enabled_view(request: Request, token_path: str, created: bool) -> BadgeView:
    """The turned-on badge as the API answers it: its public URL on this api."""
    forwarded = request.headers.get("X-Forwarded-Proto")
    scheme = forwarded if forwarded in ("http", "https") else request.scheme
    return BadgeView(url=f"{scheme}://{request.host}{token_path}", created=created)
