"""A loopback HTTP proxy for tests: forwards every request to an upstream server (an
emulator), records what went over the wire, and can answer chosen requests itself
with an error, to see what the client sends and how the adapter maps a failure."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import requests
from werkzeug.wrappers import Request, Response

_HOP_BY_HOP = {"connection", "transfer-encoding", "content-encoding", "content-length"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Fault:
    method: str
    path_contains: str
    status: int
    body: str


@dataclass
class RecordingProxy:
    upstream: str
    requests: list[Recorded] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, path_contains: str, status: int, body: str = "") -> None:
        """The next `method` request whose path contains `path_contains` gets `status`."""
        with self.lock:
            self.faults.append(_Fault(method, path_contains, status, body))

    def matching(self, method: str, path_contains: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and path_contains in r.path]

    def answered(self, method: str, path_contains: str = "") -> list[Recorded]:
        """Those of `matching` whose answer has come back (a request is recorded as it
        arrives, before the upstream answers)."""
        return [r for r in self.matching(method, path_contains) if r.status]

    def _fault_for(self, request: Request) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == request.method and fault.path_contains in request.path:
                    self.faults.remove(fault)
                    return fault
        return None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        query = parse_qs(request.query_string.decode())
        record = Recorded(request.method, request.path, query, dict(request.headers), body)
        with self.lock:
            self.requests.append(record)
        fault = self._fault_for(request)
        if fault is not None:
            record.status = fault.status
            response = Response(fault.body, status=fault.status, mimetype="application/json")
            return response(environ, start_response)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        upstream = requests.request(
            request.method,
            self.upstream + request.full_path.rstrip("?"),
            data=body,
            headers=headers,
            timeout=60,
        )
        record.status = upstream.status_code
        passed = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP]
        response = Response(upstream.content, status=upstream.status_code, headers=passed)
        return response(environ, start_response)
