"""Errors the services raise; each knows the HTTP status and title it maps to, so
handlers stay thin and every function answers problems the same way."""

from __future__ import annotations


class AssayError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(AssayError):
    status = 400
    title = "Malformed request"


class Unauthorized(AssayError):
    status = 401
    title = "Unauthorized"


class Forbidden(AssayError):
    status = 403
    title = "Forbidden"


class NotFound(AssayError):
    status = 404
    title = "Not found"


class Conflict(AssayError):
    status = 409
    title = "Conflict"


class AlreadyExists(Conflict):
    """A create met a record that exists: usually a concurrent duplicate that won."""


class ChangedConcurrently(Conflict):
    """A conditional write met a record that changed (or went) since it was read."""


class PayloadTooLarge(AssayError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(AssayError):
    status = 415
    title = "Unsupported file type"


class Unprocessable(AssayError):
    status = 422
    title = "Unprocessable request"


class TooManyRequests(AssayError):
    status = 429
    title = "Too many requests"


class Transient(AssayError):
    """Something outside Assay failed in a way that a retry may fix."""

    status = 503
    title = "Temporarily unavailable"


class NotConfigured(AssayError):
    """This deployment was not given what the request needs (not the client's fault,
    and not one a retry fixes)."""

    status = 501
    title = "Not configured"
