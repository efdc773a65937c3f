"""The contract suite runs every test once per implementation of
`shared.persistence.ports.Repositories`: the memory twin and Firestore (emulator)."""

from __future__ import annotations

import pytest

from shared.persistence.firestore.store import FirestoreRepositories
from shared.persistence.memory import MemoryRepositories
from shared.persistence.ports import Repositories


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract: the persistence contract, once per backend")


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.firestore)])
def backend(request: pytest.FixtureRequest) -> Repositories:
    """A fresh, empty store of each implementation: the twin, or the Firestore one over
    the reset emulator (tests/conftest.py `repos`; skipped by --repositories=memory)."""
    if request.param == "memory":
        return MemoryRepositories()
    repos: FirestoreRepositories = request.getfixturevalue("repos")
    assert isinstance(repos, FirestoreRepositories)
    return repos
