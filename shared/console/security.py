"""What keeps a browser session safe (decision record 0072): a CSRF token on every
state-changing request, and headers that forbid everything a page does not need.

CSRF is a double-submit token: a random value in a `SameSite=Strict`, `HttpOnly` cookie,
repeated by the page in a form field or header; a request whose two copies differ is
refused. A cross-site page can make the browser send the cookie (not under Strict) but
can read neither it nor the page that holds the field. `Sec-Fetch-Site`, which browsers
set and pages cannot, refuses any cross-site request outright. No server-side secret is
needed, so nothing is kept between requests."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from flask import Request, Response

from shared.platform.errors import Forbidden

CSRF_COOKIE = "assay_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A token is 32 random bytes, base64url: 43 characters.
TOKEN_LENGTH = 43
SAME_ORIGIN = frozenset({"same-origin", "none"})


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's token, and whether it is new (and so must be set as the cookie)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) == TOKEN_LENGTH and current.replace("-", "").replace("_", "").isalnum():
        return current, False
    return secrets.token_urlsafe(32), True


def check_csrf(request: Request) -> None:
    """Forbidden unless a state-changing request comes from the console's own page."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAME_ORIGIN:
        raise Forbidden(f"a {site} request cannot change anything in the console")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden(
            "this form has expired or did not come from the console (CSRF token missing or "
            "wrong); reload the page and try again"
        )


def content_security_policy(connect: Iterable[str] = ()) -> str:
    """Only the console's own scripts, styles and images; `connect` adds the origins
    a page may send to (the signed upload URL's)."""
    sources = " ".join(["'self'", *sorted(set(connect))])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {sources}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def secure(response: Response, request: Request, token: str, new: bool, csp: str) -> Response:
    """The response with the console's headers, and the CSRF cookie when it is new."""
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    if new:
        https = request.headers.get("X-Forwarded-Proto", request.scheme) == "https"
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=https, path="/"
        )
    return response
