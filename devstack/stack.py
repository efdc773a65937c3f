"""`make up`: the whole of Assay on 127.0.0.1, no Google account.

Starts the Firestore emulator, the metadata server, the job runner (Cloud Run Jobs),
the dispatcher (Cloud Tasks), the scheduler (Cloud Scheduler), the upload notifier
(Eventarc's storage trigger), the identity stand-in (Identity-Aware Proxy, in front of
the console: ASSAY_CONSOLE_URL, sign in at `$ASSAY_CONSOLE_URL/_dev/sign-in?email=EMAIL`)
and each function of infra/units.json as its own functions-framework process; writes
`.local/stack.env`; prints `ready` once everything answers; stops everything it started
on Ctrl-C or SIGTERM. Ports come from the environment (`ASSAY_<NAME>_PORT`) or are free
ones.

`ASSAY_JOB_IMAGES="JOB=PYTHON:FOLDER …"` runs those jobs from an image's folder.
Storage is `file://` under `.local/` by default. `ASSAY_STACK_STORAGE=gcs` starts
gcp-storage-emulator instead, and every function, the job runner and the validators
use `gs://` buckets in it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from devstack import firestore_emulator, identity, units
from devstack.net import free_port, wait_http
from devstack.processes import spawn
from devstack.storage_emulator import StorageEmulator
from shared.adapters.storage.layout import UploadsLayout

ROOT = Path(__file__).resolve().parents[1]
STAND_INS = ("metadata", "jobs", "dispatcher", "scheduler", "gate", "identity")
CONTENT_BUCKET, UPLOADS_BUCKET = "assay-content", "assay-uploads"


def _port(name: str) -> int:
    value = os.environ.get(f"ASSAY_{name.upper()}_PORT")
    return int(value) if value else free_port()


@dataclass
class Plan:
    """Where everything will listen and who everyone is."""

    project: str
    functions: tuple[units.FunctionUnit, ...]
    ports: dict[str, int]
    # Each role's service account (units.json identities), and each job's by job name.
    accounts: dict[str, str]
    jobs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def emails(self, invokers: tuple[str, ...]) -> str:
        """Who may call a function, as its invokers variable lists them ('validator':
        every validator job's own account)."""
        found = [
            email
            for who in invokers
            for email in (self.jobs.values() if who == "validator" else [self.accounts[who]])
        ]
        return ",".join(found)


def _base_env(plan: Plan) -> dict[str, str]:
    """The settings every process of the stack gets, besides each function's URL."""
    validators = units.validator_identities(plan.project)
    metadata = plan.url("metadata")
    return {
        "GOOGLE_CLOUD_PROJECT": plan.project,
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{plan.ports['firestore']}",
        "ASSAY_TASKS_ENDPOINT": plan.url("dispatcher"),
        "ASSAY_TASKS_SERVICE_ACCOUNT": plan.accounts["tasks"],
        "ASSAY_JOBS_ENDPOINT": plan.url("jobs"),
        "ASSAY_CERTS_URL": f"{metadata}/oauth2/v1/certs",
        "ASSAY_SCHEDULER_SERVICE_ACCOUNT": plan.accounts["scheduler"],
        "ASSAY_SCHEDULER_ENDPOINT": plan.url("scheduler"),
        # Whom the callback takes each validator's results from.
        "ASSAY_VALIDATOR_IDENTITIES": ",".join(f"{v}={e}" for v, e in validators.items()),
        # One validator job's identity, for whoever needs one: the json-schema job's.
        "ASSAY_VALIDATOR_SERVICE_ACCOUNT": validators["json-schema"],
        "GCE_METADATA_HOST": f"127.0.0.1:{plan.ports['metadata']}",
        "GCE_METADATA_IP": f"127.0.0.1:{plan.ports['metadata']}",
        "ASSAY_METADATA_URL": metadata,
        "ASSAY_DISPATCHER_URL": plan.url("dispatcher"),
        # Signed upload URLs: signed through the IAM stand-in, PUT to the gate.
        "ASSAY_UPLOAD_SIGNER": plan.accounts["api"],
        # Each execution's URLs: signed by the worker as itself, served by the gate.
        "ASSAY_JOB_URL_SIGNER": plan.accounts["worker"],
        # Run credentials: signed as the signer account through the IAM stand-in.
        "ASSAY_CREDENTIAL_SIGNER": plan.accounts["signer"],
        "ASSAY_CREDENTIAL_ISSUER": plan.url("api"),
        "ASSAY_IAM_ENDPOINT": metadata,
        "ASSAY_SIGNED_URL_ENDPOINT": plan.url("gate"),
        # `assay admin uploaders` edits the uploads bucket's IAM policy at the gate,
        # which enforces it on direct writes (the storage emulator has no IAM).
        "ASSAY_STORAGE_IAM_ENDPOINT": plan.url("gate"),
        # Webhooks may call http and loopback URLs here (a receiver on 127.0.0.1);
        # a deployment refuses to start with this set (decision record 0087).
        "ASSAY_WEBHOOKS_ALLOW_LOOPBACK": "true",
    }


def _console_env(plan: Plan) -> dict[str, str]:
    """People open the console through the identity stand-in, as through IAP's load
    balancer in the cloud: its setting (ASSAY_CONSOLE_URL) is the stand-in's URL, and
    the console takes the stand-in's assertions (its audience, its keys)."""
    console, proxy = units.load().console(), plan.url("identity")
    return {
        console.url_variable: proxy,
        # The function itself, which only the stand-in calls (IAP's load balancer's
        # backend); straight to it, a request carries no assertion and is refused.
        "ASSAY_CONSOLE_FUNCTION_URL": plan.url(console.name),
        "ASSAY_IAP_AUDIENCE": identity.LOCAL_AUDIENCE,
        "ASSAY_IAP_CERTS_URL": proxy + identity.JWK_PATH,
    }


class Stack:
    def __init__(self, state_dir: Path, storage: str = "file") -> None:
        if storage not in ("file", "gcs"):
            raise ValueError(f"ASSAY_STACK_STORAGE must be 'file' or 'gcs', not {storage!r}")
        self.state = state_dir
        self.storage = storage
        self.logs = state_dir / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.files: list[IO[bytes]] = []
        self.emulator: firestore_emulator.FirestoreEmulator | None = None
        self.storage_emulator: StorageEmulator | None = None

    def _log(self, name: str) -> IO[bytes]:
        handle = (self.logs / f"{name}.log").open("ab")
        self.files.append(handle)
        return handle

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.processes[name] = spawn(command, self._log(name), env=env, cwd=ROOT)

    def _plan(self) -> Plan:
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "assay-local")
        functions = units.load().functions
        names = ("firestore", *STAND_INS, *(f.name for f in functions))
        plan = Plan(
            project=project,
            functions=functions,
            ports={n: _port(n) for n in names},
            accounts={i: units.service_account(i, project) for i in units.load().identities},
            jobs=units.job_accounts(project),
        )
        plan.env = _base_env(plan)
        for unit in functions:
            plan.env[unit.url_variable] = plan.url(unit.name)
            if unit.invokers:
                plan.env[unit.invokers_variable] = plan.emails(unit.invokers)
        plan.env.update(_console_env(plan))
        for key in ("ASSAY_MAX_UPLOAD_BYTES",):
            if key in os.environ:
                plan.env[key] = os.environ[key]
        return plan

    def _start_storage(self, plan: Plan) -> None:
        if self.storage == "file":
            content, uploads = self.state / "storage", self.state / "uploads"
            for folder in (content, uploads):
                folder.mkdir(parents=True, exist_ok=True)
            plan.env["ASSAY_STORAGE_URI"] = content.resolve().as_uri()
            plan.env["ASSAY_UPLOADS_URI"] = uploads.resolve().as_uri()
            return
        self.storage_emulator = StorageEmulator(_port("storage"), log=self._log("storage"))
        self.storage_emulator.start()
        for bucket in (CONTENT_BUCKET, UPLOADS_BUCKET):
            self.storage_emulator.create_bucket(bucket)
        plan.env["STORAGE_EMULATOR_HOST"] = self.storage_emulator.url
        plan.env["ASSAY_STORAGE_URI"] = f"gs://{CONTENT_BUCKET}"
        plan.env["ASSAY_UPLOADS_URI"] = f"gs://{UPLOADS_BUCKET}"

    def _module(self, name: str, module: str, env: dict[str, str], *args: str) -> None:
        self._spawn(name, [sys.executable, "-m", module, *args], env)

    def _start_stand_ins(self, plan: Plan, env: dict[str, str]) -> None:
        # The order is the order the stack has always started them in (and logged).
        self._start_metadata(plan, env)
        self._start_job_runner(plan, env)
        self._start_dispatcher(plan, env)
        self._start_gate(plan, env)
        self._start_scheduler(plan, env)
        self._start_upload_notifiers(plan, env)
        self._start_identity(plan, env)

    def _start_metadata(self, plan: Plan, env: dict[str, str]) -> None:
        self._module(
            "metadata",
            "devstack.metadata_server",
            env,
            *("--port", str(plan.ports["metadata"]), "--project", plan.project),
            # No --default: every job asks as its own account (the job runner's --identity).
            *("--accounts", ",".join([*plan.accounts.values(), *plan.jobs.values()])),
            # Only the api and the worker sign, and only they hold the secret; the api
            # also signs credentials as the signer account.
            *("--signer", plan.accounts["api"], "--signer", plan.accounts["worker"]),
            *("--signer", plan.accounts["signer"]),
        )

    def _start_job_runner(self, plan: Plan, env: dict[str, str]) -> None:
        # A job gets what Cloud Run would give it, and how to reach the local stand-ins.
        job_env = {"VALIDATOR_VERSION": "local", "GOOGLE_CLOUD_PROJECT": plan.project} | {
            k: env[k]
            for k in ("GCE_METADATA_HOST", "GCE_METADATA_IP", "STORAGE_EMULATOR_HOST")
            if k in env
        }
        images = os.environ.get("ASSAY_JOB_IMAGES", "").split()
        self._module(
            "jobs",
            "devstack.job_runner",
            env,
            *("--port", str(plan.ports["jobs"]), "--log-dir", str(self.logs / "jobs")),
            *(a for k, v in job_env.items() for a in ("--env", f"{k}={v}")),
            *(a for spec in images for a in ("--image", spec)),
            *(a for job, email in plan.jobs.items() for a in ("--identity", f"{job}={email}")),
        )

    def _start_dispatcher(self, plan: Plan, env: dict[str, str]) -> None:
        self._module(
            "dispatcher",
            "devstack.dispatcher",
            env,
            *("--port", str(plan.ports["dispatcher"]), "--metadata-url", plan.url("metadata")),
        )

    def _start_gate(self, plan: Plan, env: dict[str, str]) -> None:
        metadata = plan.url("metadata")
        uploads, content = env["ASSAY_UPLOADS_URI"], env["ASSAY_STORAGE_URI"]
        self._module(
            "gate",
            "devstack.signed_url_gate",
            env,
            *("--port", str(plan.ports["gate"])),
            *("--bucket", f"{UploadsLayout(uploads).bucket}={uploads}"),
            *("--bucket", f"{UploadsLayout(content).bucket}={content}"),
            *("--certs-url", metadata + "/service_accounts/v1/metadata/x509/{email}"),
            *("--id-certs-url", metadata + "/oauth2/v1/certs"),
            # The console's pages PUT large files by signed URL from the browser.
            *("--cors-origin", plan.url("identity")),
        )

    def _start_scheduler(self, plan: Plan, env: dict[str, str]) -> None:
        every = os.environ.get("ASSAY_SCHEDULER_EVERY")
        targets = [f"{s['function']}={plan.url(s['function'])}" for s in units.load().schedules]
        self._module(
            "scheduler",
            "devstack.scheduler",
            env,
            *("--port", str(plan.ports["scheduler"]), "--project", plan.project),
            *("--metadata-url", plan.url("metadata"), "--account", plan.accounts["scheduler"]),
            *(a for target in targets for a in ("--url", target)),
            *(("--every", every) if every else ()),
        )

    def _start_upload_notifiers(self, plan: Plan, env: dict[str, str]) -> None:
        for unit in plan.functions:
            if unit.trigger == "storage-finalized":
                self._module(
                    f"{unit.name}-notifier",
                    "devstack.upload_notifier",
                    env,
                    *("--uploads", env["ASSAY_UPLOADS_URI"], "--target", plan.url(unit.name)),
                    *("--metadata-url", plan.url("metadata")),
                    *("--account", ",".join(plan.accounts[i] for i in unit.invokers)),
                )

    def _start_identity(self, plan: Plan, env: dict[str, str]) -> None:
        self._module(
            "identity",
            "devstack.identity",
            env,
            *("--port", str(plan.ports["identity"])),
            *("--target", plan.env["ASSAY_CONSOLE_FUNCTION_URL"]),
            *("--audience", plan.env["ASSAY_IAP_AUDIENCE"]),
        )

    def _start_functions(self, plan: Plan, env: dict[str, str]) -> None:
        framework = str(Path(sys.executable).parent / "functions-framework")
        for unit in plan.functions:
            self._spawn(
                unit.name,
                [
                    *(framework, "--target", unit.entry_point, "--source", "functions/main.py"),
                    *("--host", "127.0.0.1", "--port", str(plan.ports[unit.name])),
                ],
                env,
            )

    def start(self) -> dict[str, str]:
        self.logs.mkdir(parents=True, exist_ok=True)
        plan = self._plan()
        self._start_storage(plan)
        env = {**os.environ, **plan.env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        # Not in plan.env (stack.env): the functions and the IAM stand-in share it; no job
        # is given it (the job runner passes a job only its own variables).
        env["ASSAY_IAM_LOCAL_SECRET"] = secrets.token_urlsafe(32)
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        self.emulator = firestore_emulator.FirestoreEmulator(
            plan.ports["firestore"], log=self._log("firestore")
        )
        self._start_stand_ins(plan, env)
        self._start_functions(plan, env)
        self.emulator.start()
        for name in (*STAND_INS, *(f.name for f in plan.functions)):
            wait_http(plan.url(name) + "/healthz", timeout=60, process=self.processes[name])
        lines = [f"{k}={v}" for k, v in sorted(plan.env.items())]
        (self.state / "stack.env").write_text("\n".join(lines) + "\n")
        return plan.env

    def dead(self) -> str | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return f"{name} exited with {process.returncode}"
        for emulator in (self.emulator, self.storage_emulator):
            running = emulator.process if emulator else None
            if running is not None and running.poll() is not None:
                return f"{type(emulator).__name__} exited with {running.returncode}"
        return None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for emulator in (self.emulator, self.storage_emulator):
            if emulator:
                emulator.stop()
        (self.state / "stack.env").unlink(missing_ok=True)
        for handle in self.files:
            handle.close()


def main() -> int:
    reason = firestore_emulator.missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    state = Path(os.environ.get("ASSAY_LOCAL_DIR", ROOT / ".local"))
    stack = Stack(state, os.environ.get("ASSAY_STACK_STORAGE", "file"))
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        env = stack.start()
        print(
            f"Assay is up: API {env['ASSAY_API_URL']}, console {env['ASSAY_CONSOLE_URL']} "
            f"(storage {env['ASSAY_STORAGE_URI']}, "
            f"uploads {env['ASSAY_UPLOADS_URI']}; settings in {state / 'stack.env'}, "
            f"logs in {stack.logs})",
            flush=True,
        )
        print("ready", flush=True)
        while not stopping:
            problem = stack.dead()
            if problem:
                print(f"stopping: {problem} (see {stack.logs})", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.5)
        return 0
    except (RuntimeError, TimeoutError, ValueError) as exc:
        print(f"the stack could not start: {exc} (see {stack.logs})", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
