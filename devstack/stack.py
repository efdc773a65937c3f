"""`make up`: the whole of Assay on 127.0.0.1, no Google account.

Starts the Firestore emulator, the metadata server, the job runner (Cloud Run Jobs),
the dispatcher (Cloud Tasks) and each function as its own functions-framework process;
writes `.local/stack.env`; prints `ready` once the API answers; stops everything it
started on Ctrl-C or SIGTERM. Ports come from the environment or are free ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO

from devstack import firestore_emulator, units
from devstack.net import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
STAND_INS = ("metadata", "jobs", "dispatcher")


def _port(name: str) -> int:
    value = os.environ.get(f"ASSAY_{name.upper()}_PORT")
    return int(value) if value else free_port()


class Stack:
    def __init__(self, state_dir: Path) -> None:
        self.state = state_dir
        self.logs = state_dir / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.files: list[IO[bytes]] = []
        self.emulator: firestore_emulator.FirestoreEmulator | None = None

    def _log(self, name: str) -> IO[bytes]:
        handle = (self.logs / f"{name}.log").open("ab")
        self.files.append(handle)
        return handle

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log(name),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> dict[str, str]:
        self.logs.mkdir(parents=True, exist_ok=True)
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "assay-local")
        functions = [f for f in units.load().functions if f.trigger != "storage-finalized"]
        names = ("firestore", *STAND_INS, *(f.name for f in functions))
        ports = {n: _port(n) for n in names}
        url = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        accounts = {
            i: units.service_account(i, project) for i in (*units.load().identities, "validator")
        }
        tasks_sa, scheduler_sa = accounts["tasks"], accounts["scheduler"]
        storage = (self.state / "storage").resolve()
        storage.mkdir(parents=True, exist_ok=True)
        stack_env = {
            "GOOGLE_CLOUD_PROJECT": project,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ports['firestore']}",
            "ASSAY_STORAGE_URI": storage.as_uri(),
            "ASSAY_TASKS_ENDPOINT": url["dispatcher"],
            "ASSAY_TASKS_SERVICE_ACCOUNT": tasks_sa,
            "ASSAY_JOBS_ENDPOINT": url["jobs"],
            "ASSAY_CERTS_URL": f"{url['metadata']}/oauth2/v1/certs",
            "ASSAY_SCHEDULER_SERVICE_ACCOUNT": scheduler_sa,
            "ASSAY_VALIDATOR_SERVICE_ACCOUNT": accounts["validator"],
            "GCE_METADATA_HOST": f"127.0.0.1:{ports['metadata']}",
            "GCE_METADATA_IP": f"127.0.0.1:{ports['metadata']}",
            "ASSAY_METADATA_URL": url["metadata"],
            "ASSAY_DISPATCHER_URL": url["dispatcher"],
        }
        for unit in functions:
            stack_env[unit.url_variable] = url[unit.name]
            if unit.invokers:
                stack_env[unit.invokers_variable] = ",".join(accounts[i] for i in unit.invokers)
        for key in ("ASSAY_MAX_UPLOAD_BYTES", "ASSAY_INLINE_MAX_BYTES"):
            if key in os.environ:
                stack_env[key] = os.environ[key]
        env = {**os.environ, **stack_env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)

        self.emulator = firestore_emulator.FirestoreEmulator(
            ports["firestore"], log=self._log("firestore")
        )
        py = sys.executable
        self._spawn(
            "metadata",
            [
                py,
                "-m",
                "devstack.metadata_server",
                "--port",
                str(ports["metadata"]),
                "--accounts",
                ",".join(accounts.values()),
                "--default",
                accounts["validator"],
                "--project",
                project,
            ],
            env,
        )
        self._spawn(
            "jobs",
            [
                py,
                "-m",
                "devstack.job_runner",
                "--port",
                str(ports["jobs"]),
                "--log-dir",
                str(self.logs / "jobs"),
            ],
            env,
        )
        self._spawn(
            "dispatcher",
            [
                py,
                "-m",
                "devstack.dispatcher",
                "--port",
                str(ports["dispatcher"]),
                "--metadata-url",
                url["metadata"],
            ],
            env,
        )
        every = os.environ.get("ASSAY_SCHEDULER_EVERY")
        self._spawn(
            "scheduler",
            [
                py,
                "-m",
                "devstack.scheduler",
                "--metadata-url",
                url["metadata"],
                "--account",
                scheduler_sa,
                *(
                    a
                    for s in units.load().schedules
                    for a in ("--url", f"{s['function']}={url[s['function']]}")
                ),
                *(["--every", every] if every else []),
            ],
            env,
        )
        framework = str(Path(py).parent / "functions-framework")
        for unit in functions:
            self._spawn(
                unit.name,
                [
                    framework,
                    "--target",
                    unit.entry_point,
                    "--source",
                    "functions/main.py",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports[unit.name]),
                ],
                env,
            )
        self.emulator.start()
        for name in names[1:]:
            wait_http(url[name] + "/healthz", timeout=60, process=self.processes[name])

        lines = [f"{k}={v}" for k, v in sorted(stack_env.items())]
        (self.state / "stack.env").write_text("\n".join(lines) + "\n")
        return stack_env

    def dead(self) -> str | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return f"{name} exited with {process.returncode}"
        emulator = self.emulator.process if self.emulator else None
        if emulator is not None and emulator.poll() is not None:
            return f"firestore emulator exited with {emulator.returncode}"
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
        if self.emulator:
            self.emulator.stop()
        (self.state / "stack.env").unlink(missing_ok=True)
        for handle in self.files:
            handle.close()


def main() -> int:
    reason = firestore_emulator.missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    state = Path(os.environ.get("ASSAY_LOCAL_DIR", ROOT / ".local"))
    stack = Stack(state)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        env = stack.start()
        print(
            f"Assay is up: API {env['ASSAY_API_URL']} (settings in {state / 'stack.env'}, "
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
    except (RuntimeError, TimeoutError) as exc:
        print(f"the stack could not start: {exc} (see {stack.logs})", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
