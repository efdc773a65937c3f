"""Processes the local stack starts: each in its own session, so stopping one stops
everything it started, and a stop that is not heeded becomes a kill."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

from devstack.net import free_port, wait_http


def spawn(
    command: list[str],
    log: IO[bytes] | None = None,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes] | None, grace: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Emulator:
    """An emulator on a loopback port, ready once it answers HTTP."""

    def __init__(self, port: int | None = None, log: IO[bytes] | None = None) -> None:
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def launch(self, timeout: float) -> None:
        self.process = spawn(self.command(), self.log)
        wait_http(self.url + "/", timeout=timeout, process=self.process)

    def stop(self) -> None:
        stop(self.process)
