"""A local stand-in for Cloud Scheduler: ticks the schedules of infra/units.json, and
answers the Cloud Scheduler v1 REST methods Assay's CLI uses (jobs list, get, pause,
resume, run), so `assay admin schedules` is the same client code here and in the cloud.

Each tick POSTs the schedule's body to its function with an OIDC token for the
scheduler's service account (audience = the function's URL), as Cloud Scheduler's HTTP
targets do. `--every` replaces the cron schedules with a fixed interval, to watch purges
happen without waiting an hour. A paused job is not ticked; `:run` ticks it at once,
paused or not, as the real API does.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import requests
from croniter import croniter
from werkzeug.wrappers import Request, Response

from devstack import units
from devstack.metadata_server import fetch_token

log = logging.getLogger("scheduler")

ROUTE = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs"
    r"(?:/(?P<job>[^/:]+)(?::(?P<verb>pause|resume|run))?)?$"
)


class JobState(StrEnum):
    ENABLED = "ENABLED"
    PAUSED = "PAUSED"


def _timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _error(code: int, status: str, message: str) -> Response:
    body = {"error": {"code": code, "status": status, "message": message}}
    return Response(json.dumps(body), status=code, mimetype="application/json")


@dataclass
class LocalJob:
    schedule: dict[str, Any]
    url: str
    next_time: datetime
    state: JobState = JobState.ENABLED
    last_attempt: datetime | None = None
    last_status: int | None = None
    updated: datetime | None = None

    @property
    def id(self) -> str:
        return str(self.schedule["name"])

    def view(self, parent: str, account: str) -> dict[str, Any]:
        body = json.dumps(self.schedule.get("body") or {}).encode()
        failed = self.last_status is not None and not 200 <= self.last_status < 300
        return {
            "name": f"{parent}/jobs/{self.id}",
            "schedule": self.schedule["cron"],
            "timeZone": "Etc/UTC",
            "state": self.state.value,
            "httpTarget": {
                "uri": self.url,
                "httpMethod": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": base64.b64encode(body).decode(),
                "oidcToken": {"serviceAccountEmail": account, "audience": self.url},
            },
            "scheduleTime": _timestamp(self.next_time),
            "lastAttemptTime": _timestamp(self.last_attempt),
            "userUpdateTime": _timestamp(self.updated),
            # google.rpc.Status: empty when the last attempt succeeded; UNKNOWN (2) else.
            "status": {"code": 2, "message": f"HTTP {self.last_status}"} if failed else {},
        }


class Scheduler:
    def __init__(
        self,
        metadata_url: str,
        account: str,
        urls: dict[str, str],
        *,
        project: str = "assay-local",
        location: str = "us-central1",
        every: float | None = None,
    ) -> None:
        self.metadata_url = metadata_url.rstrip("/")
        self.account = account
        self.parent = f"projects/{project}/locations/{location}"
        self.every = every
        self.session = requests.Session()
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.stopped = False
        now = datetime.now(UTC)
        self.jobs = {
            s["name"]: LocalJob(s, urls[s["function"]], self.next_time(s, now))
            for s in units.load().schedules
        }

    # --- ticking ---------------------------------------------------------------------

    def next_time(self, schedule: dict[str, Any], after: datetime) -> datetime:
        if self.every:
            return after + timedelta(seconds=self.every)
        nxt: datetime = croniter(schedule["cron"], after).get_next(datetime)
        return nxt

    def tick(self, job: LocalJob) -> None:
        try:
            token = fetch_token(self.metadata_url, self.account, job.url, self.session)
            response = self.session.post(
                job.url,
                json=job.schedule.get("body") or {},
                timeout=600,
                headers={
                    "Authorization": f"Bearer {token}",
                    "User-Agent": "Google-Cloud-Scheduler",
                },
            )
            status = response.status_code
            log.info("%s -> %s %s", job.id, status, response.text[:300])
        except requests.RequestException as exc:
            status = 503
            log.warning("%s could not be delivered: %s", job.id, exc)
        with self.lock:
            job.last_status = status

    def _start_tick(self, job: LocalJob) -> None:
        with self.lock:
            job.last_attempt = datetime.now(UTC)
        threading.Thread(target=self.tick, args=(job,), daemon=True).start()

    def _due(self, now: datetime) -> tuple[list[LocalJob], float]:
        """Jobs to tick now (their next time advanced), and seconds until the next one."""
        due, wait = [], 60.0
        with self.lock:
            for job in self.jobs.values():
                if job.state is JobState.PAUSED:
                    continue
                if job.next_time <= now:
                    due.append(job)
                    job.next_time = self.next_time(job.schedule, max(job.next_time, now))
                wait = min(wait, (job.next_time - now).total_seconds())
        return due, max(0.0, wait)

    def stop(self) -> None:
        self.stopped = True
        self.changed.set()

    def run_forever(self) -> None:
        while not self.stopped:
            due, wait = self._due(datetime.now(UTC))
            for job in due:
                self._start_tick(job)
            self.changed.wait(wait)
            self.changed.clear()

    # --- the Cloud Scheduler v1 REST API ---------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == "/healthz":
            return Response("ok")
        match = ROUTE.match(request.path)
        if match is None:
            return _error(404, "NOT_FOUND", f"no such method {request.method} {request.path}")
        parent = f"projects/{match['project']}/locations/{match['location']}"
        if parent != self.parent:
            return _error(404, "NOT_FOUND", f"{parent} has no Cloud Scheduler jobs here")
        if match["job"] is None:
            if request.method != "GET":
                return _error(405, "UNIMPLEMENTED", f"{request.method} jobs is not supported")
            return self._json({"jobs": self._views()})
        job = self.jobs.get(match["job"])
        if job is None:
            return _error(404, "NOT_FOUND", f"Job not found: {parent}/jobs/{match['job']}")
        verb = match["verb"]
        if (verb is None) != (request.method == "GET"):
            return _error(405, "UNIMPLEMENTED", f"{request.method} {request.path}")
        if verb in ("pause", "resume"):
            self._set_state(job, JobState.PAUSED if verb == "pause" else JobState.ENABLED)
        elif verb == "run":
            self._start_tick(job)
        return self._json(self._view(job))

    def _set_state(self, job: LocalJob, state: JobState) -> None:
        now = datetime.now(UTC)
        with self.lock:
            if job.state is not state:
                job.state = state
                job.updated = now
                if state is JobState.ENABLED:
                    job.next_time = self.next_time(job.schedule, now)
        self.changed.set()

    def _view(self, job: LocalJob) -> dict[str, Any]:
        with self.lock:
            return job.view(self.parent, self.account)

    def _views(self) -> list[dict[str, Any]]:
        return [self._view(job) for job in self.jobs.values()]

    @staticmethod
    def _json(payload: dict[str, Any]) -> Response:
        return Response(json.dumps(payload), mimetype="application/json")


def main() -> None:
    from devstack.net import serve
    from shared.platform.logs import configure

    configure()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--project", default="assay-local")
    parser.add_argument("--location", default="us-central1")
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--url", action="append", default=[], help="FUNCTION=URL")
    parser.add_argument("--every", type=float, default=None)
    args = parser.parse_args()
    urls = dict(item.split("=", 1) for item in args.url)
    scheduler = Scheduler(
        args.metadata_url,
        args.account,
        urls,
        project=args.project,
        location=args.location,
        every=args.every,
    )
    threading.Thread(target=scheduler.run_forever, daemon=True, name="ticks").start()
    serve(scheduler, args.port)


if __name__ == "__main__":
    main()
