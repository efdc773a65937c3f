"""HTTP helpers shared by every function: problem+json errors and JSON responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.platform import logs
from shared.platform.errors import AssayError, BadRequest, PayloadTooLarge, Unprocessable

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

PROBLEM = "application/problem+json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=str),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def problem(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, headers=headers, mimetype=PROBLEM)


def validation_detail(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def loads(raw: bytes | str, what: str = "the request body") -> Any:
    """JSON from a request, or a BadRequest saying why not: invalid, nested too deeply
    for the parser, or holding text that is not Unicode (a lone surrogate "\ud800"
    parses, then fails wherever it is stored or sent)."""
    try:
        value = json.loads(raw)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except UnicodeError:
        raise BadRequest(f"{what} holds text that is not valid Unicode") from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from exc
    return value


# A JSON request body (a workflow, a re-run) is read up to this many bytes and refused
# beyond, whether it declares its length or arrives chunked.
MAX_JSON_BODY = 2 * 1024 * 1024


def read_body(request: Request, limit: int = MAX_JSON_BODY) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the request body is {declared} bytes; at most {limit} are accepted")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the request body is over {limit} bytes, the most accepted")
    return bytes(data)


def parse_json(request: Request) -> Any:
    raw = read_body(request)
    if not raw:
        raise BadRequest("the request body is empty; send a JSON object")
    return loads(raw)


def parse_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(validation_detail(exc)) from exc


def parse_as(adapter: TypeAdapter[T], data: Any) -> T:
    """As `parse_model`, for a type that is not one model (a union of task bodies)."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise Unprocessable(validation_detail(exc)) from exc


def prefer_wait(header: str | None) -> int | None:
    """The seconds a client asked to wait with `Prefer: wait=N` (RFC 7240 section 4.3);
    None when it did not ask. A malformed preference is ignored, as the RFC says."""
    for preference in (header or "").split(","):
        token = preference.split(";", 1)[0].strip()
        name, _, value = token.partition("=")
        if name.strip().lower() == "wait" and value.strip().strip('"').isdigit():
            return int(value.strip().strip('"'))
    return None


def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Maps service errors to problems; anything unexpected is logged and a 500."""

    def wrapper(request: Request) -> Response:
        logs.begin(request.headers)
        try:
            return handler(request)
        except AssayError as exc:
            return problem(exc.status, exc.title, exc.detail, exc.headers)
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return problem(500, "Internal error", "an unexpected error occurred; it was logged")

    return wrapper
