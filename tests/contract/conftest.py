"""The contract suite runs every test once per implementation of
`shared.persistence.ports.Repositories`. An implementation that has not landed yet is
skipped with the reason, so the suite says which backends it held to the contract."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

# What the container Protocol names: an object without them is not a Repositories yet.
_REPOSITORIES = [
    *("orgs", "keys", "workflows", "resources", "submissions", "runs", "findings"),
    *("receipts", "purge_retries", "sweeps", "uploads", "upload_inputs", "transact", "batch"),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract: the persistence contract, once per backend")


def _implementation(package: str, name: str) -> Any:
    """The class the package exports, or the one its `store` module defines while the
    package does not export it yet; a skip when neither exists."""
    reasons = []
    for module in (package, f"{package}.store"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            reasons.append(f"{module}: {exc}")
    pytest.skip(f"{name} not importable yet ({'; '.join(reasons)})")


def _memory() -> Any:
    return _implementation("shared.persistence.memory", "MemoryRepositories")()


def _firestore(request: pytest.FixtureRequest) -> Any:
    # Looked up before the emulator is asked for, so a skip starts no emulator.
    cls = _implementation("shared.persistence.firestore", "FirestoreRepositories")
    repos = request.getfixturevalue("repos")  # tests/conftest.py: a reset emulator
    if isinstance(repos, cls):
        return repos
    # wiring.repositories() still builds the old class: the new one, over the client
    # wiring.reset() renewed for this test's emulator.
    from shared.persistence.firestore.client import get_client

    return cls(get_client())


@pytest.fixture(params=["memory", "firestore"])
def backend(request: pytest.FixtureRequest) -> Any:
    repos = _memory() if request.param == "memory" else _firestore(request)
    missing = [name for name in _REPOSITORIES if not hasattr(repos, name)]
    if missing:
        pytest.skip(f"{request.param}: lacks {', '.join(missing)}")
    return repos
