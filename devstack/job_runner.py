"""A local stand-in for Cloud Run Jobs.

It answers the part of the Cloud Run Admin v2 REST API that Assay uses — jobs.run with
env overrides, executions.get and executions.cancel — so the real client library talks
to it unchanged. Job `validator-<name>` runs the module `validators.<name>` (dashes
become underscores) as its own process, with the job's own environment plus the
overrides, as Cloud Run runs a job's container — not with this process's environment,
so a validator that leans on anything it would not have in the cloud fails here too.

A job runs as its own service account (`--identity JOB=EMAIL`; the stack passes each
job's from infra/units.json): its GCE_METADATA_HOST points at the metadata stand-in as
that account, so the ID tokens it mints name it, as Cloud Run's metadata server does.

Each job process runs in bubblewrap (validators.sandbox.job_command): the host's
network, but a file view of only the system, its interpreter and the product's code, so
it cannot open the stack's storage folder and reaches its run's objects only through the
signed URLs its launch made, as a job holding no storage role does in Google Cloud
(decision record 0024).

By default a job runs from the repository. `--image JOB=PYTHON:FOLDER` runs it from a
folder holding exactly what the job's Dockerfile copies, with that virtualenv's Python:
the image, short of Docker.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import string
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.metadata_server import identity_host
from validators.sandbox import SandboxUnavailable, job_command

RUN = re.compile(r"^/v2/(projects/([^/]+)/locations/([^/]+)/jobs/([^/:]+)):run$")
EXECUTIONS = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/jobs/[^/:]+)/executions$")
EXECUTION = re.compile(
    r"^/v2/(projects/[^/]+/locations/[^/]+/jobs/[^/]+/executions/[^/:]+)(:cancel)?$"
)
EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@dataclass
class LocalExecution:
    name: str
    job: str
    process: subprocess.Popen[bytes]
    input_uri: str = ""
    folder: str = ""
    overrides: list[dict[str, str]] = field(default_factory=list)
    image: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    completed: datetime | None = None
    cancelled: bool = False
    timed_out: bool = False

    def conditions(self, code: int | None) -> list[dict[str, str]]:
        """Cloud Run's Completed condition, with its message when the task failed."""
        if code is None:
            return []
        if self.cancelled:
            message = "The execution was cancelled."
        elif self.timed_out:
            message = "Task 0 timed out: it ran past its task timeout and was stopped."
        elif code:
            message = f"Task 0 failed with exit code {code}."
        else:
            return [{"type": "Completed", "state": "CONDITION_SUCCEEDED"}]
        return [{"type": "Completed", "state": "CONDITION_FAILED", "message": message}]

    def stop(self) -> None:
        """Stops the task's whole process group, as Cloud Run stops the container."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        # The sandbox's first process may be gone while the job it started is not (a
        # signal that reached it alone): whatever is left of the group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def view(self) -> dict[str, Any]:
        code = self.process.poll()
        if code is not None and self.completed is None:
            self.completed = datetime.now(UTC)
        running = code is None
        return {
            "@type": EXECUTION_TYPE,
            "name": self.name,
            "job": self.job,
            "createTime": _time(self.created),
            "startTime": _time(self.created),
            "completionTime": _time(self.completed),
            "taskCount": 1,
            "runningCount": 1 if running else 0,
            "succeededCount": 1 if code == 0 and not self.cancelled else 0,
            "failedCount": 1 if code not in (None, 0) and not self.cancelled else 0,
            "cancelledCount": 1 if self.cancelled else 0,
            "conditions": self.conditions(code),
            # Cloud Run's execution template carries the image and the env overrides.
            "template": {"containers": [{"image": self.image, "env": self.overrides}]},
        }


def _error(code: int, status: str, message: str) -> Response:
    body = {"error": {"code": code, "status": status, "message": message}}
    return Response(json.dumps(body), status=code, mimetype="application/json")


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), mimetype="application/json")


ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Image:
    """Where a job's code lives and which Python runs it."""

    python: str = sys.executable
    folder: Path = ROOT

    @classmethod
    def parse(cls, spec: str) -> tuple[str, Image]:
        job, _, rest = spec.partition("=")
        python, _, folder = rest.partition(":")
        if not (job and python and folder):
            raise ValueError(f"--image takes JOB=PYTHON:FOLDER, not {spec!r}")
        return job, cls(python, Path(folder))


def folder_digest(folder: Path) -> str:
    """The sha256 of a job folder's files, what stands in for an image's digest: over
    one line per file, by its path from `folder` (POSIX, sorted), `path NUL sha256-of-
    its-bytes LF`; compiled caches (`__pycache__`) left out, as a build leaves them."""
    lines = hashlib.sha256()
    files = (p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.update(f"{path.relative_to(folder).as_posix()}\0{content}\n".encode())
    return lines.hexdigest()


def _file_digest(module: Path) -> str:
    """`folder_digest` of a folder holding only the module's file."""
    path = module.with_suffix(".py")
    content = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashlib.sha256(f"{path.name}\0{content}\n".encode()).hexdigest()


def task_timeout(job: str, override: str | None) -> float:
    """The execution's task timeout: the run's override ("600s"), else the job's own
    timeout from infra/units.json, else Cloud Run's default of 10 minutes."""
    if override:
        if not re.fullmatch(r"\d+(\.\d+)?s", override):
            raise ValueError(f"timeout must be a duration like '600s', not {override!r}")
        return float(override[:-1])
    from devstack import units

    for spec in units.load().jobs:
        if spec["name"] == job:
            return float(spec["timeout_seconds"])
    return 600.0


def base_env() -> dict[str, str]:
    """What any container has before the job's own variables."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}


def _apply_overrides(env: dict[str, str], overrides: dict[str, Any]) -> list[dict[str, str]]:
    """Sets each containerOverrides variable in `env`; what was set, in order, as the
    execution reports it."""
    overridden: list[dict[str, str]] = []
    for override in overrides.get("containerOverrides") or []:
        for var in override.get("env") or []:
            env[var["name"]] = var.get("value", "")
            overridden.append({"name": var["name"], "value": var.get("value", "")})
    return overridden


def _cloud_run_env(job: str, suffix: str) -> dict[str, str]:
    """What Cloud Run sets in every task's container, after (so over) any override."""
    return {
        "CLOUD_RUN_JOB": job,
        "CLOUD_RUN_EXECUTION": f"{job}-{suffix}",
        "CLOUD_RUN_TASK_INDEX": "0",
        "CLOUD_RUN_TASK_COUNT": "1",
    }


class JobRunner:
    def __init__(
        self,
        log_dir: Path,
        job_prefix: str = "validator-",
        module_prefix: str = "validators.",
        *,
        env: dict[str, str] | None = None,
        images: dict[str, Image] | None = None,
        identities: dict[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.job_prefix = job_prefix
        self.module_prefix = module_prefix
        self.env = {**base_env(), **(env or {})}
        self.images = images or {}
        # Each job's own service account, by job name.
        self.identities = identities or {}
        self.executions: dict[str, LocalExecution] = {}
        self.lock = threading.Lock()
        self._images: dict[str, str] = {}

    def image_of(self, job: str, module: str) -> str:
        """What Cloud Run would report as the job's image: `local/<job>@sha256:<digest of
        the job's folder>` (its module's package: the code its Dockerfile adds to the
        shared base), computed once per job."""
        with self.lock:
            if job not in self._images:
                code = self.images.get(job, Image()).folder.joinpath(*module.split("."))
                # A job that is one module (a test's) is that file's folder of one.
                digest = folder_digest(code) if code.is_dir() else _file_digest(code)
                self._images[job] = f"local/{job}@sha256:{digest}"
            return self._images[job]

    def module_for(self, job: str) -> str | None:
        if not job.startswith(self.job_prefix):
            return None
        module = self.module_prefix + job[len(self.job_prefix) :].replace("-", "_")
        folder = self.images.get(job, Image()).folder
        package = folder.joinpath(*module.split("."))
        return module if package.is_dir() or package.with_suffix(".py").is_file() else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == "/healthz":
            return Response("ok")
        if request.path == "/_local/executions":
            with self.lock:
                items = [
                    {**e.view(), "input_uri": e.input_uri, "folder": e.folder}
                    for e in self.executions.values()
                ]
            return _json({"executions": items})
        run = RUN.match(request.path)
        if run and request.method == "POST":
            return self.run(run, json.loads(request.get_data() or b"{}"))
        listing = EXECUTIONS.match(request.path)
        if listing and request.method == "GET":
            with self.lock:
                items = [
                    e.view()
                    for e in self.executions.values()
                    if e.name.startswith(listing.group(1) + "/executions/")
                ]
            return _json({"executions": items})
        execution = EXECUTION.match(request.path)
        if execution:
            with self.lock:
                found = self.executions.get(execution.group(1))
            if found is None:
                return _error(404, "NOT_FOUND", f"Execution {execution.group(1)} not found")
            if execution.group(2) and request.method == "POST":
                return self.cancel(found)
            if request.method == "GET":
                return _json(found.view())
        return _error(404, "NOT_FOUND", f"no such method {request.method} {request.path}")

    def run(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        job_path, job = match.group(1), match.group(4)
        module = self.module_for(job)
        if module is None:
            return _error(404, "NOT_FOUND", f"Job {job_path} not found")
        image = self.images.get(job, Image())
        env = {**self.env, "PYTHONPATH": str(image.folder)} | self.identity_env(job)
        overrides = body.get("overrides") or {}
        try:
            timeout = task_timeout(job, overrides.get("timeout"))
        except ValueError as exc:
            return _error(400, "INVALID_ARGUMENT", str(exc))
        overridden = _apply_overrides(env, overrides)
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        env.update(_cloud_run_env(job, suffix))
        try:
            argv = self.command(image, module)
        except SandboxUnavailable as exc:
            return _error(400, "FAILED_PRECONDITION", f"the job cannot be sandboxed: {exc}")
        execution = LocalExecution(
            name=f"{job_path}/executions/{job}-{suffix}",
            job=job,
            process=self._launch(argv, image, env, f"{job}-{suffix}"),
            input_uri=env.get("INPUT_URI", ""),
            folder=str(image.folder),
            overrides=overridden,
            image=self.image_of(job, module),
        )
        self._track(execution, timeout)
        operation = {
            "name": f"{job_path.rsplit('/jobs/', 1)[0]}/operations/{suffix}",
            "metadata": execution.view(),
            "done": False,
        }
        return _json(operation)

    def _launch(
        self, argv: list[str], image: Image, env: dict[str, str], execution_id: str
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{execution_id}.log").open("wb") as log:
            # Its own session, so stopping it stops everything the job started too.
            return subprocess.Popen(
                argv,
                cwd=image.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _track(self, execution: LocalExecution, timeout: float) -> None:
        """Lists the execution, and ends it once its task timeout has passed, as Cloud Run
        does."""
        with self.lock:
            self.executions[execution.name] = execution
        watchdog = threading.Timer(timeout, self._expire, (execution,))
        watchdog.daemon = True
        watchdog.start()

    @staticmethod
    def command(image: Image, module: str) -> list[str]:
        """The job's process: its module under its image's Python, in its sandbox, which
        shows the product's two packages and the module's own (tests.jobs: tests)."""
        packages = {"shared", "validators", module.split(".", 1)[0]}
        return job_command([image.python, "-m", module], image.python, image.folder, packages)

    def identity_env(self, job: str) -> dict[str, str]:
        """The metadata host under which the job's tokens name its own account."""
        email, host = self.identities.get(job), self.env.get("GCE_METADATA_HOST")
        return {"GCE_METADATA_HOST": identity_host(host, email)} if email and host else {}

    def stop_all(self) -> None:
        """Stops every execution still running (the stand-in is going away)."""
        with self.lock:
            running = list(self.executions.values())
        for execution in running:
            execution.stop()

    @staticmethod
    def _expire(execution: LocalExecution) -> None:
        """Past its task timeout Cloud Run stops the task and counts it failed."""
        if execution.process.poll() is None and not execution.cancelled:
            execution.timed_out = True
            execution.stop()

    def cancel(self, execution: LocalExecution) -> Response:
        if execution.process.poll() is None:
            execution.cancelled = True
            execution.stop()
        return _json(
            {
                "name": execution.name + "/cancel",
                "done": True,
                "metadata": execution.view(),
                "response": execution.view(),
            }
        )


def main() -> None:
    from devstack.net import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--job-prefix", default="validator-")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for every job")
    parser.add_argument("--image", action="append", default=[], help="JOB=PYTHON:FOLDER")
    parser.add_argument("--identity", action="append", default=[], help="JOB=EMAIL")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    images = dict(Image.parse(spec) for spec in args.image)
    identities = dict(item.split("=", 1) for item in args.identity)
    runner = JobRunner(args.log_dir, args.job_prefix, env=env, images=images, identities=identities)
    serve(runner, args.port)


if __name__ == "__main__":
    main()
