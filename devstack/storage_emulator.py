"""gcp-storage-emulator (PyPI) as a process on loopback: Cloud Storage's JSON API for the
`gs://` stack and the storage adapter's tests. It keeps objects in memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import requests

from devstack.net import free_port, wait_http


class StorageEmulator:
    def __init__(self, port: int | None = None, log: IO[bytes] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> StorageEmulator:
        executable = Path(sys.executable).parent / "gcp-storage-emulator"
        command = [str(executable), "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--in-memory", "--quiet"],
            stdout=self.log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http(self.url + "/", timeout=timeout, process=self.process)
        return self

    def create_bucket(self, name: str) -> None:
        response = requests.post(
            f"{self.url}/storage/v1/b", params={"project": "local"}, json={"name": name}, timeout=10
        )
        if response.status_code not in (200, 409):
            response.raise_for_status()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
