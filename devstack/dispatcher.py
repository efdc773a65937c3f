"""A local stand-in for Cloud Tasks.

It answers the part of the Cloud Tasks v2 REST API that Assay uses (CreateTask, with
named-task de-duplication), so the real client library talks to it unchanged. Each task
is delivered like Cloud Tasks delivers an HTTP target: a POST with the X-CloudTasks-*
headers and an OIDC token (minted by the local metadata server for the task's service
account and audience), retried with exponential backoff until it gets a 2xx.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from devstack.metadata_server import fetch_token

log = logging.getLogger("dispatcher")

CREATE = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/queues/([^/]+))/tasks$")


@dataclass
class LocalTask:
    name: str
    queue: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    oidc_email: str | None
    oidc_audience: str | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    dispatch_count: int = 0
    response_count: int = 0
    last_status: int | None = None
    done: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "createTime": self.created.isoformat().replace("+00:00", "Z"),
            "scheduleTime": self.created.isoformat().replace("+00:00", "Z"),
            "dispatchCount": self.dispatch_count,
            "responseCount": self.response_count,
            "httpRequest": {"url": self.url, "httpMethod": self.method},
            "lastStatus": self.last_status,
            "done": self.done,
        }


def _error(code: int, status: str, message: str) -> Response:
    body = {"error": {"code": code, "status": status, "message": message}}
    return Response(json.dumps(body), status=code, mimetype="application/json")


_METHODS = {1: "POST", 2: "GET", 3: "HEAD", 4: "PUT", 5: "DELETE", 6: "PATCH", 7: "OPTIONS"}


class Dispatcher:
    def __init__(
        self,
        metadata_url: str,
        max_attempts: int = 30,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        self.metadata_url = metadata_url.rstrip("/")
        self.max_attempts = max_attempts
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.tasks: dict[str, LocalTask] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="deliver")
        self.session = requests.Session()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == "/healthz":
            return Response("ok")
        if request.path == "/_local/tasks":
            with self.lock:
                items = [t.view() for t in self.tasks.values()]
            return Response(json.dumps({"tasks": items}), mimetype="application/json")
        match = CREATE.match(request.path)
        if match is None or request.method != "POST":
            return _error(404, "NOT_FOUND", f"no such method {request.method} {request.path}")
        parent, queue = match.group(1), match.group(2)
        try:
            task = self._parse(parent, queue, json.loads(request.get_data() or b"{}"))
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, "INVALID_ARGUMENT", f"invalid task: {exc}")
        with self.lock:
            if task.name in self.tasks:
                return _error(
                    409, "ALREADY_EXISTS", f"Requested entity already exists: {task.name}"
                )
            self.tasks[task.name] = task
        self.pool.submit(self._deliver, task)
        return Response(json.dumps(task.view()), mimetype="application/json")

    @staticmethod
    def _parse(parent: str, queue: str, data: dict[str, Any]) -> LocalTask:
        task = data["task"]
        http = task["httpRequest"]
        name = task.get("name") or f"{parent}/tasks/{uuid.uuid4().hex}"
        if not name.startswith(parent + "/tasks/"):
            raise ValueError(f"task name {name!r} is not in queue {parent!r}")
        method = http.get("httpMethod", "POST")
        oidc = http.get("oidcToken") or {}
        return LocalTask(
            name=name,
            queue=queue,
            url=http["url"],
            method=_METHODS.get(method, "POST") if isinstance(method, int) else str(method),
            headers=dict(http.get("headers") or {}),
            body=base64.b64decode(http.get("body") or ""),
            oidc_email=oidc.get("serviceAccountEmail"),
            oidc_audience=oidc.get("audience") or http["url"],
        )

    def _token(self, task: LocalTask) -> str | None:
        if not task.oidc_email:
            return None
        return fetch_token(
            self.metadata_url, task.oidc_email, task.oidc_audience or task.url, self.session
        )

    def _deliver(self, task: LocalTask) -> None:
        backoff = self.min_backoff
        short_name = task.name.rsplit("/", 1)[-1]
        for retry in range(self.max_attempts):
            headers = dict(task.headers)
            headers.update(
                {
                    "User-Agent": "Google-Cloud-Tasks",
                    "X-CloudTasks-QueueName": task.queue,
                    "X-CloudTasks-TaskName": short_name,
                    "X-CloudTasks-TaskRetryCount": str(retry),
                    "X-CloudTasks-TaskExecutionCount": str(task.response_count),
                    "X-CloudTasks-TaskETA": f"{task.created.timestamp():.6f}",
                }
            )
            task.dispatch_count += 1
            try:
                token = self._token(task)
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                response = self.session.request(
                    task.method, task.url, data=task.body, headers=headers, timeout=600
                )
                task.response_count += 1
                task.last_status = response.status_code
                if 200 <= response.status_code < 300:
                    task.done = True
                    log.info("delivered %s -> %s", short_name, response.status_code)
                    return
                log.warning(
                    "task %s got %s: %s", short_name, response.status_code, response.text[:300]
                )
            except requests.RequestException as exc:
                log.warning("task %s could not be delivered: %s", short_name, exc)
            time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
        log.error("task %s gave up after %s attempts", short_name, self.max_attempts)


def main() -> None:
    from devstack.net import serve
    from shared.platform.logs import configure

    configure()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--max-attempts", type=int, default=30)
    args = parser.parse_args()
    serve(Dispatcher(args.metadata_url, max_attempts=args.max_attempts), args.port)


if __name__ == "__main__":
    main()
