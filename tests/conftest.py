"""Shared fixtures. The official Firestore emulator is started once per session on a
free port and reset before every test that uses it; the environment is isolated.

`--repositories=memory` runs the tests that take the `repos` fixture on the in-memory
twin (shared/persistence/memory/, held to the same contract suite as Firestore) instead
of the emulator, and skips those marked `firestore` (they read Firestore's own documents,
indexes or client): `make test-fast`."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.firestore_emulator import FirestoreEmulator
from devstack.net import free_port
from validators import sandbox

PROJECT = "assay-test"
# The checks the tests define (tests/unit/test_fast_path_limits.py) run in the fast
# path's sandboxed fork server, which shows only code: the tests' own, read-only.
sandbox.EXTRA_CODE.append(str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--repositories",
        choices=("firestore", "memory"),
        default="firestore",
        help="what the repos fixture runs on: the Firestore emulator or the memory twin",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "firestore: reads Firestore itself (documents, indexes, client): emulator only"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--repositories") != "memory":
        return
    skip = pytest.mark.skip(reason="reads Firestore itself: runs on the emulator only")
    for item in items:
        if "firestore" in item.keywords:
            item.add_marker(skip)


def on_memory(config: pytest.Config) -> bool:
    return bool(config.getoption("--repositories") == "memory")


@pytest.fixture(scope="session")
def emulator() -> Iterator[FirestoreEmulator]:
    instance = FirestoreEmulator().start()
    yield instance
    instance.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean environment for shared.platform.config, with storage under tmp_path."""
    for key in list(os.environ):
        if key.startswith(("ASSAY_", "GCE_METADATA")):
            monkeypatch.delenv(key)
    values = {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "ASSAY_STORAGE_URI": (tmp_path / "storage").as_uri(),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    from shared import wiring
    from shared.api.auth import id_tokens

    # Certificates are cached by URL for a process's life; a test's token stand-in may
    # get the port (so the URL) of an earlier test's, with other keys.
    monkeypatch.setattr(id_tokens, "_CACHE", id_tokens.new_cache())
    wiring.reset()
    yield values
    wiring.reset()


@pytest.fixture
def repos(
    request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    from shared import wiring

    if on_memory(request.config):
        from shared.persistence.memory import MemoryRepositories

        # One twin for the test: every wiring.reset() hands the same one back, as
        # every client of the emulator sees the same database.
        twin = MemoryRepositories()
        monkeypatch.setattr(wiring, "get_repositories", lambda: twin)
    else:
        emulator: FirestoreEmulator = request.getfixturevalue("emulator")
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
        emulator.reset(PROJECT)
    wiring.reset()
    return wiring.repositories()


class ThreadServer:
    """A WSGI app served on a free loopback port from a thread (local stand-ins)."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        # A stand-in that runs processes (the job runner) stops them with itself.
        stop_all = getattr(self.app, "stop_all", None)
        if stop_all is not None:
            stop_all()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadServer] = []

    def start(app: Any) -> ThreadServer:
        server = ThreadServer(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
