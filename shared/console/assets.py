"""The console's own scripts, styles and the vendored chart library, served by the
console itself (no CDN: a page loads nothing from anywhere else). They need no sign-in:
they are the same for everyone and hold nothing of anyone's."""

from __future__ import annotations

from pathlib import Path

from flask import Request
from werkzeug.exceptions import NotFound as FileNotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Response

PREFIX = "/assets/"
# Not /static/: the functions framework's Flask app keeps that path for a folder of its own.
FOLDER = Path(__file__).resolve().parent / "static"
# Not hashed in their names, so cached for an hour rather than for ever.
MAX_AGE = 3600


def serve(request: Request) -> Response:
    name = request.path[len(PREFIX) :]
    try:
        response = send_from_directory(FOLDER, name, request.environ, max_age=MAX_AGE)
    except FileNotFound:
        return Response("no such file", status=404, mimetype="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
