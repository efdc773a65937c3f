"""gcp-storage-emulator (PyPI) as a process on loopback: Cloud Storage's JSON API for the
`gs://` stack and the storage adapter's tests. It keeps objects in memory."""

from __future__ import annotations

import sys
from pathlib import Path

import requests

from devstack.processes import Emulator


class StorageEmulator(Emulator):
    def command(self) -> list[str]:
        executable = Path(sys.executable).parent / "gcp-storage-emulator"
        return [
            *(str(executable), "start", "--host", "127.0.0.1", "--port", str(self.port)),
            *("--in-memory", "--quiet"),
        ]

    def start(self, timeout: float = 30.0) -> StorageEmulator:
        self.launch(timeout)
        return self

    def create_bucket(self, name: str) -> None:
        response = requests.post(
            f"{self.url}/storage/v1/b", params={"project": "local"}, json={"name": name}, timeout=10
        )
        if response.status_code not in (200, 409):
            response.raise_for_status()
