"""Turning an HTTP request into the submitted file. Three shapes are accepted:
a raw body; a JSON envelope ({"content": ..., ...}); multipart with a `file` field."""

from __future__ import annotations

import base64
import binascii
import io
import json
import mimetypes
from typing import Any

from flask import Request

from shared.api.http import loads
from shared.domain.files import media_type
from shared.platform.errors import BadRequest, PayloadTooLarge, Unprocessable
from shared.services.submissions import IncomingFile

ENVELOPE_KEYS = frozenset(
    {"content", "content_encoding", "filename", "content_type", "metadata", "project_id"}
)
# Base64 and multipart framing make the request larger than the file it carries.
_FRAMING_SLACK = 64 * 1024
# Metadata is kept with the submission for as long as its record (not its content).
MAX_METADATA_BYTES = 16 * 1024


def _guess_type(filename: str | None) -> str:
    return (mimetypes.guess_type(filename)[0] if filename else None) or "application/octet-stream"


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = loads(value, "metadata")
    if not isinstance(value, dict):
        raise Unprocessable("metadata must be a JSON object")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise Unprocessable(f"metadata is {size} bytes of JSON; at most {MAX_METADATA_BYTES}")
    return value


def _optional_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise Unprocessable(f"{name} must be a string")


def _body(request: Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the request is {declared} bytes; at most {limit} are accepted")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the request is over {limit} bytes, the most accepted")
    return data


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _envelope(body: dict[str, Any]) -> IncomingFile:
    content = body["content"]
    encoding = body.get("content_encoding")
    if encoding not in (None, "base64"):
        raise Unprocessable(f"content_encoding must be 'base64' or absent, not {encoding!r}")
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"content is not valid base64: {exc}") from exc
    else:
        data = content.encode("utf-8")
    filename = _optional_str(body.get("filename"), "filename")
    content_type = _optional_str(body.get("content_type"), "content_type")
    if filename is None and content_type is None and _is_json(data):
        # `{"content": "..."}` alone: JSON content is a JSON file.
        content_type = "application/json"
    return IncomingFile(
        data=data,
        filename=filename,
        content_type=content_type or _guess_type(filename),
        metadata=_metadata(body.get("metadata")),
        project_id=_optional_str(body.get("project_id"), "project_id"),
    )


def _bounded_form(request: Request, limit: int) -> Request:
    """A chunked multipart body (no Content-Length) is read up to `limit` before the form
    parser sees it, so the parser never spools an unbounded stream."""
    if request.content_length is not None:
        return request
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request is over the {limit // 2}-byte limit")
    environ = {**request.environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))}
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = False
    return Request(environ)


def read_upload(request: Request, max_bytes: int) -> IncomingFile:
    declared = media_type(request.content_type)
    if declared == "multipart/form-data":
        if request.content_length is not None and request.content_length > max_bytes * 2:
            raise PayloadTooLarge(f"the request is over the {max_bytes}-byte limit")
        request = _bounded_form(request, max_bytes * 2)
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("a multipart submission needs a field named 'file'")
        data = upload.stream.read(max_bytes + 1)
        form = request.form
        filename = form.get("filename") or upload.filename
        return IncomingFile(
            data=data,
            filename=filename,
            content_type=upload.content_type or _guess_type(filename),
            metadata=_metadata(form.get("metadata")),
            project_id=form.get("project_id") or None,
        )
    data = _body(
        request,
        max_bytes * 4 // 3 + _FRAMING_SLACK if declared == "application/json" else max_bytes,
    )
    if declared == "application/json":
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):
            parsed = None  # not JSON we can read: it is the file; the validator will say so
        if (
            isinstance(parsed, dict)
            and isinstance(parsed.get("content"), str)
            and set(parsed) <= ENVELOPE_KEYS
        ):
            return _envelope(loads(data, "the envelope"))
    filename = request.headers.get("X-Filename") or None
    return IncomingFile(
        data=data,
        filename=filename,
        content_type=request.content_type or _guess_type(filename),
    )
