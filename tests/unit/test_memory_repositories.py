"""The memory twin's own concurrency: real threads against one MemoryRepositories. What
every backend promises is the contract suite's (tests/contract/); these hold the
twin's optimistic transactions and all-or-nothing batches under contention."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.models import Organization, Workflow
from shared.persistence.memory import MemoryRepositories
from shared.persistence.memory.unit_of_work import ReadAfterWrite
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform.errors import AlreadyExists, Transient

T0 = datetime(2026, 1, 1, tzinfo=UTC)
THREADS = 8


def flow(repos: Repositories, slug: str = "w", count: int = 0, name: str = "W") -> Workflow:
    wid = repos.workflows.id_for("o", slug)
    return Workflow(
        id=wid,
        org_id="o",
        slug=slug,
        name=name,
        latest_version=count,
        created_at=T0,
        updated_at=T0,
    )


def in_threads(work: Callable[[int], Any]) -> list[Any]:
    """Runs work(i) in THREADS threads released together; each one's result or error."""
    start = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test asserts which
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def bump(uow: UnitOfWork, slug: str = "w") -> int:
    current = uow.workflow("o", slug)
    assert current is not None
    time.sleep(0)  # lets another thread in between the read and the write
    current.latest_version += 1
    uow.save(current)
    return current.latest_version


def test_the_twin_is_a_repositories() -> None:
    repos: Repositories = MemoryRepositories()  # mypy holds the type; this, the names
    assert repos.batch() is not None


def test_of_concurrent_batches_creating_one_document_exactly_one_wins() -> None:
    repos = MemoryRepositories()

    def create(i: int) -> str:
        batch = repos.batch()
        batch.create(Organization(id=f"extra{i}", name="x", created_at=T0))
        batch.create(flow(repos, name=f"by {i}"))
        batch.commit()
        return f"by {i}"

    results = in_threads(create)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if r not in winners)
    assert repos.workflows.get("o", "w").name == winners[0]
    # A losing batch wrote nothing, not even its documents that did not collide.
    orgs = [i for i in range(THREADS) if repos.orgs.get(f"extra{i}") is not None]
    assert orgs == [int(winners[0].removeprefix("by "))]


def test_concurrent_read_then_write_transactions_lose_no_update() -> None:
    repos = MemoryRepositories()
    repos.transact(lambda uow: uow.save(flow(repos)))
    rounds = 25

    def increments(i: int) -> int:
        for _ in range(rounds):
            repos.transact(bump, max_attempts=100)
        return rounds

    assert in_threads(increments) == [rounds] * THREADS
    assert repos.workflows.get("o", "w").latest_version == THREADS * rounds


def test_effects_run_once_and_only_for_the_attempt_that_committed() -> None:
    repos = MemoryRepositories()
    repos.transact(lambda uow: uow.save(flow(repos)))
    attempts: list[int] = []
    effects: list[int] = []

    def fn(uow: UnitOfWork) -> int:
        attempts.append(len(attempts) + 1)
        attempt = attempts[-1]
        count = bump(uow)
        uow.after_commit(lambda: effects.append(attempt))
        if attempt == 1:  # another writer commits between this attempt's read and commit
            repos.transact(bump)
        return count

    assert repos.transact(fn) == 2  # the other writer's 1, then this one's
    assert attempts == [1, 2]
    assert effects == [2]
    assert repos.workflows.get("o", "w").latest_version == 2


def test_contention_that_outlasts_the_attempts_is_transient_and_writes_nothing() -> None:
    repos = MemoryRepositories()
    repos.transact(lambda uow: uow.save(flow(repos)))
    effects: list[str] = []

    def fn(uow: UnitOfWork) -> None:
        bump(uow)
        uow.after_commit(lambda: effects.append("ran"))
        repos.transact(lambda other: bump(other))

    with pytest.raises(Transient) as caught:
        repos.transact(fn, max_attempts=3)
    assert caught.value.headers == {"Retry-After": "1"}
    assert effects == []
    assert repos.workflows.get("o", "w").latest_version == 3  # the other writer's only


def test_an_attempt_never_sees_half_of_another_commit() -> None:
    repos = MemoryRepositories()
    repos.transact(lambda uow: (uow.save(flow(repos, "a")), uow.save(flow(repos, "b"))))
    seen: list[tuple[int, int]] = []
    attempts: list[int] = []

    def both(uow: UnitOfWork) -> None:
        pair = [uow.workflow("o", "a"), uow.workflow("o", "b")]
        for current in pair:
            assert current is not None
            current.latest_version += 1
            uow.save(current)

    def read_pair(uow: UnitOfWork) -> None:
        attempts.append(1)
        a = uow.workflow("o", "a")
        if len(attempts) == 1:  # a commit of both lands between this attempt's two reads
            repos.transact(both)
        b = uow.workflow("o", "b")
        assert a is not None and b is not None
        seen.append((a.latest_version, b.latest_version))

    repos.transact(read_pair)
    assert len(attempts) == 2
    assert seen == [(1, 1)]  # never (0, 1)


def test_a_failed_create_in_a_transaction_writes_nothing() -> None:
    repos = MemoryRepositories()
    repos.transact(lambda uow: uow.save(flow(repos, "taken")))

    def fn(uow: UnitOfWork) -> None:
        uow.save(flow(repos, "new"))
        uow.create(flow(repos, "taken", name="again"))

    with pytest.raises(AlreadyExists):
        repos.transact(fn)
    assert repos.workflows.find("o", "new") is None
    assert repos.workflows.get("o", "taken").name == "W"


def test_a_read_after_a_write_is_refused() -> None:
    repos = MemoryRepositories()
    repos.transact(lambda uow: uow.save(flow(repos)))

    def fn(uow: UnitOfWork) -> None:
        bump(uow)
        uow.workflow("o", "w")

    with pytest.raises(ReadAfterWrite):
        repos.transact(fn)
    assert repos.workflows.get("o", "w").latest_version == 0


def test_what_a_caller_changes_never_reaches_the_store() -> None:
    repos = MemoryRepositories()
    written = flow(repos)
    repos.transact(lambda uow: uow.save(written))
    written.name = "changed after the write"
    read = repos.workflows.get("o", "w")
    read.name = "changed after the read"
    assert repos.workflows.get("o", "w").name == "W"
