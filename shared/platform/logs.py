"""Structured JSON logs on stdout, as Cloud Logging reads them: `severity`, the request's
trace as `logging.googleapis.com/trace`, and `run_id`/`org_id`/`submission_id` as
`logging.googleapis.com/labels`, so one run's lines can be followed across functions
and its validator job.

The trace comes from the incoming request (`traceparent`, else `X-Cloud-Trace-Context`)
and goes out with every hop Assay makes for the run: the Cloud Tasks delivery (a
`traceparent` header), the job (a `TRACEPARENT` variable) and its callback (a header).
Labels are bound once a handler or service knows the run; both live in context
variables, set afresh for each request.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import traceback
from contextvars import ContextVar
from typing import Any, Protocol

TRACE_FIELD = "logging.googleapis.com/trace"
LABELS_FIELD = "logging.googleapis.com/labels"
LABEL_KEYS = ("run_id", "org_id", "submission_id")

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-f]{32})(?:/\d*)?(?:;o=\d)?$")

_trace: ContextVar[str | None] = ContextVar("assay_trace", default=None)
_labels: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("assay_labels", default=())


class Headers(Protocol):
    """A request's headers: a dict, or werkzeug's case-insensitive Headers."""

    def get(self, key: str, default: str) -> str: ...


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def trace_of(headers: Headers) -> str | None:
    """The trace id a request carries, or None (a malformed header is ignored)."""
    parent = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if parent and set(parent.group(1)) != {"0"}:
        return parent.group(1)
    cloud = _CLOUD_TRACE.match(headers.get("X-Cloud-Trace-Context", "").strip().lower())
    return cloud.group(1) if cloud else None


def begin(headers: Headers) -> None:
    """Starts a request's logging context: its trace, and no labels yet."""
    _trace.set(trace_of(headers))
    _labels.set(())


def bind(**labels: str | None) -> None:
    """Labels every later line of this request (or job) with these values."""
    current = dict(_labels.get())
    current.update({k: str(v) for k, v in labels.items() if v})
    _labels.set(tuple(current.items()))


def traceparent() -> str | None:
    """A W3C traceparent for an outgoing hop: this trace, a new span."""
    trace = _trace.get()
    return f"00-{trace}-{secrets.token_hex(8)}-01" if trace else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        labels = dict(_labels.get())
        for key, value in vars(record).items():
            if key in _STANDARD:
                continue
            if key in LABEL_KEYS:
                if value:
                    labels[key] = str(value)
            else:
                entry[key] = value
        if labels:
            entry[LABELS_FIELD] = labels
        trace = _trace.get()
        if trace:
            project = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
            entry[TRACE_FIELD] = f"projects/{project}/traces/{trace}"
        if record.exc_info and record.exc_info[1] is not None:
            entry["stack_trace"] = stack_without_messages(record.exc_info[1])
        return json.dumps(entry, default=str)


WITHHELD = "(message withheld: an exception's text may quote submitted content)"


def stack_without_messages(exc: BaseException) -> str:
    """A traceback in Python's own layout (Error Reporting parses it), with each
    exception's type and frames but never its text: a parser's or a client library's
    message can quote the document it choked on, and user content never reaches logs."""
    chain: list[traceback.TracebackException] = []
    current: traceback.TracebackException | None = traceback.TracebackException.from_exception(exc)
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for link in reversed(chain):
        parts.append("Traceback (most recent call last):\n")
        parts.extend(link.stack.format())
        kind = link.exc_type
        name = f"{kind.__module__}.{kind.__qualname__}" if kind is not None else "Exception"
        parts.append(f"{name.removeprefix('builtins.')}: {WITHHELD}\n")
    return "".join(parts)


def configure(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
