"""`Repositories.transact`: reads then writes, effects after the commit and once, and
every operation of a unit of work."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.domain.enums import ReceiptClaim, ReceiptState, RunStatus
from shared.persistence.memory import MemoryRepositories
from shared.platform.errors import AlreadyExists, NotFound, Transient
from shared.platform.ids import new_id
from tests.contract.builders import (
    at,
    purge_retry,
    receipt,
    run,
    save,
    store,
    submission,
    version,
    workflow,
)

pytestmark = pytest.mark.contract


class Boom(Exception):
    pass


def test_the_units_result_is_returned_and_its_writes_are_committed(backend: Any) -> None:
    stored = run("a")
    store(backend, stored)

    def start(uow: Any) -> str:
        found = uow.run(stored.id)
        found.status = RunStatus.RUNNING
        uow.save(found)
        return "started"

    assert backend.transact(start) == "started"
    assert backend.runs.find(stored.id).status is RunStatus.RUNNING


def test_effects_run_after_the_commit_once_and_in_order(backend: Any) -> None:
    stored = run("a")
    store(backend, stored)
    seen: list[tuple[str, RunStatus]] = []

    def start(uow: Any) -> None:
        found = uow.run(stored.id)
        found.status = RunStatus.RUNNING
        uow.save(found)
        for name in ("first", "second"):
            uow.after_commit(lambda n=name: seen.append((n, backend.runs.find(stored.id).status)))
        assert seen == []  # registered, not run

    backend.transact(start)
    assert seen == [("first", RunStatus.RUNNING), ("second", RunStatus.RUNNING)]


def test_an_exception_in_the_unit_writes_nothing_and_runs_no_effect(backend: Any) -> None:
    stored = run("a")
    store(backend, stored)
    effects: list[str] = []

    def fail(uow: Any) -> None:
        found = uow.run(stored.id)
        found.status = RunStatus.RUNNING
        uow.save(found)
        uow.create(run("a"))
        uow.after_commit(lambda: effects.append("ran"))
        raise Boom

    with pytest.raises(Boom):
        backend.transact(fail)
    assert backend.runs.find(stored.id) == stored
    assert backend.runs.page("a").items == [stored]
    assert effects == []


def test_creating_what_exists_fails_the_whole_unit(backend: Any) -> None:
    stored, fresh = run("a"), run("a", 1)
    store(backend, stored)
    effects: list[str] = []

    def create_both(uow: Any) -> None:
        uow.create(fresh)
        uow.create(stored.model_copy(update={"status": RunStatus.RUNNING}))
        uow.after_commit(lambda: effects.append("ran"))

    with pytest.raises(AlreadyExists):
        backend.transact(create_both)
    assert backend.runs.find(fresh.id) is None
    assert backend.runs.find(stored.id) == stored
    assert effects == []


def test_concurrent_increments_lose_no_update(backend: Any) -> None:
    retry = purge_retry("a")
    save(backend, retry)
    # Four on the emulator: its locks time out under more contention and a loaded CI
    # machine, which tests the emulator's patience, not the contract.
    threads, each = (8 if isinstance(backend, MemoryRepositories) else 4), 1
    effects: list[int] = []
    gate = threading.Barrier(threads)

    def increment(uow: Any) -> None:
        found = uow.purge_retry(retry.submission_id)
        time.sleep(0.01)  # lets the other threads read the same count meanwhile
        found.attempt_count += 1
        uow.save(found)
        uow.after_commit(lambda: effects.append(1))

    def worker() -> None:
        gate.wait(timeout=30)
        done = 0
        for _ in range(each * 20):  # bounded: a backend that is always busy fails
            try:
                backend.transact(increment)
            except Transient:
                continue  # contention outlasted the attempts: nothing committed, go again
            done += 1
            if done == each:
                return
        raise AssertionError("transact stayed busy")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done in [pool.submit(worker) for _ in range(threads)]:
            done.result(timeout=120)  # a worker's exception fails the test here
    assert backend.purge_retries.find(retry.submission_id).attempt_count == threads * each
    assert len(effects) == threads * each


def test_a_unit_reads_runs_submissions_receipts_and_retries(backend: Any) -> None:
    sub = submission("a")
    mine = run("a", submission_id=sub.id)
    sub.run_ids = [mine.id]
    store(backend, sub, mine)
    backend.receipts.claim(receipt("cb", "me", 0))
    save(backend, purge_retry("a", sub.id))

    def read(uow: Any) -> tuple[Any, ...]:
        return (
            uow.run(mine.id),
            uow.run(new_id()),
            uow.submission(sub.id),
            uow.submission(None),
            uow.receipt("cb").owner,
            uow.receipt("other"),
            uow.purge_retry(sub.id).submission_id,
            uow.purge_retry(new_id()),
        )

    assert backend.transact(read) == (mine, None, sub, None, "me", None, sub.id, None)


def test_a_unit_reads_many_submissions_and_their_runs(backend: Any) -> None:
    one, gone = submission("a"), new_id()
    runs = [run("a", 0, submission_id=one.id), run("a", 1, submission_id=gone)]
    one.run_ids = [runs[0].id]
    store(backend, one, *runs)

    def read(uow: Any) -> tuple[Any, Any]:
        found = uow.submissions_by_id([one.id, gone])
        return found, uow.runs_of(found)

    found, runs_of = backend.transact(read)
    assert found == {one.id: one, gone: None}
    assert runs_of == {one.id: [runs[0]], gone: [runs[1]]}


def test_a_unit_reads_a_workflow_of_its_org_only_and_its_versions(backend: Any) -> None:
    flow = workflow(backend, "a", latest=2)
    store(backend, flow, version(flow, 1), version(flow, 2))

    def read(uow: Any) -> tuple[Any, ...]:
        found = uow.workflow("a", flow.slug)
        return found, uow.workflow("b", flow.slug), uow.version(found), uow.version(found, 1)

    assert backend.transact(read) == (flow, None, version(flow, 2), version(flow, 1))

    def missing(uow: Any) -> None:
        uow.version(flow, 3)

    with pytest.raises(NotFound):
        backend.transact(missing)


def test_add_run_records_the_latest_and_every_run(backend: Any) -> None:
    sub = submission("a")
    store(backend, sub)
    first, second = new_id(), new_id()
    backend.transact(lambda uow: uow.add_run(sub.id, first))
    backend.transact(lambda uow: uow.add_run(sub.id, second))
    stored = backend.submissions.find(sub.id)
    assert (stored.latest_run_id, stored.run_ids) == (second, [first, second])


def test_close_receipt_makes_it_done(backend: Any) -> None:
    backend.receipts.claim(receipt("cb", "me", 0))
    backend.transact(lambda uow: uow.close_receipt("cb", at(1)))
    stored = backend.receipts.find("cb")
    assert (stored.state, stored.completed_at) == (ReceiptState.DONE, at(1))
    assert backend.receipts.claim(receipt("cb", "you", 10)) is ReceiptClaim.PROCESSED


def test_clear_reconcile_leaves_the_run_to_no_pass(backend: Any) -> None:
    stored = run("a", reconcile_at=at(0))
    store(backend, stored)
    backend.transact(lambda uow: uow.clear_reconcile(stored.id))
    assert backend.runs.find(stored.id) == stored.model_copy(update={"reconcile_at": None})
    assert backend.runs.to_reconcile(at(10), limit=10) == []


def test_hand_to_retry_notes_the_first_time_only(backend: Any) -> None:
    sub = submission("a")
    store(backend, sub)
    backend.transact(lambda uow: uow.hand_to_retry(sub.id, at(1)))
    backend.transact(lambda uow: uow.hand_to_retry(sub.id, at(2)))
    assert backend.submissions.find(sub.id) == sub.model_copy(update={"purge_retry_since": at(1)})


def test_hand_to_retry_of_a_gone_submission_creates_nothing(backend: Any) -> None:
    gone = new_id()
    backend.transact(lambda uow: uow.hand_to_retry(gone, at(1)))
    assert backend.submissions.find(gone) is None


def test_a_purged_submission_keeps_its_record_without_content(backend: Any) -> None:
    sub = submission("a", input_file="file:///in/a.json", expires_at=at(5), run_ids=["r"])
    store(backend, sub)
    backend.transact(lambda uow: uow.mark_submission_purged(sub.id, at(6)))
    stored = backend.submissions.find(sub.id)
    assert not stored.content
    assert (stored.input_file, stored.expires_at, stored.content_purged_at) == (None, None, at(6))
    kept = {"content": stored.content, "input_file": None, "expires_at": None}
    assert stored == sub.model_copy(update={**kept, "content_purged_at": at(6)})


def test_a_purged_runs_output_has_no_expiry(backend: Any) -> None:
    stored = run("a", output_expires_at=at(5))
    store(backend, stored)
    backend.transact(lambda uow: uow.mark_run_purged(stored.id, at(6)))
    assert backend.runs.find(stored.id) == stored.model_copy(
        update={"output_purged_at": at(6), "output_expires_at": None}
    )


def test_save_creates_what_is_absent_and_replaces_what_is_there(backend: Any) -> None:
    sub, flow = submission("a"), workflow(backend, "a")
    save(backend, sub, flow)
    assert (backend.submissions.find(sub.id), backend.workflows.find("a", flow.slug)) == (sub, flow)
    bumped = flow.model_copy(update={"latest_version": 2, "updated_at": at(1)})
    save(backend, bumped)
    assert backend.workflows.get("a", flow.slug) == bumped
