"""What concurrent callers (real threads) get: one of them wins each race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from shared.domain.enums import ReceiptClaim
from shared.persistence.ports import Uploader
from shared.platform.errors import AlreadyExists
from tests.contract.builders import T0, receipt, run, store, upload_event

pytestmark = pytest.mark.contract

T = TypeVar("T")
THREADS = 8


def at_once(call: Callable[[int], T]) -> list[T]:
    """`call(i)` from THREADS threads released together; their answers in order."""
    gate = threading.Barrier(THREADS)

    def released(i: int) -> T:
        gate.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(released, range(THREADS), timeout=120))


def test_one_of_many_first_claims_takes_the_receipt(backend: Any) -> None:
    claims = at_once(lambda i: backend.receipts.claim(receipt("cb", f"owner{i}", 0)))
    assert sorted(claims) == sorted([ReceiptClaim.TAKEN] + [ReceiptClaim.BUSY] * (THREADS - 1))
    winner = claims.index(ReceiptClaim.TAKEN)
    assert backend.receipts.find("cb").owner == f"owner{winner}"


def test_one_of_many_takeovers_after_the_lease_wins(backend: Any) -> None:
    backend.receipts.claim(receipt("cb", "dead", 0, lease_minutes=5))
    claims = at_once(lambda i: backend.receipts.claim(receipt("cb", f"owner{i}", 10)))
    assert claims.count(ReceiptClaim.TAKEN) == 1
    assert claims.count(ReceiptClaim.BUSY) == THREADS - 1
    assert backend.receipts.find("cb").owner == f"owner{claims.index(ReceiptClaim.TAKEN)}"


def test_one_of_many_deliveries_records_an_event(backend: Any) -> None:
    event = upload_event(backend, "a")
    assert sorted(at_once(lambda i: backend.uploads.record_event(event))) == [False] * (
        THREADS - 1
    ) + [True]


def test_one_of_many_adds_of_an_uploader_adds_it(backend: Any) -> None:
    member = Uploader(org_id="a", member="user:x@example.com", created_at=T0)
    assert at_once(lambda i: backend.uploads.add_uploader(member)).count(True) == 1
    assert backend.uploads.uploaders("a") == [member]


def test_one_of_many_batches_creating_a_run_commits(backend: Any) -> None:
    shared = run("a")

    def create(i: int) -> str:
        try:
            store(backend, shared.model_copy(update={"workflow_slug": f"w{i}"}))
        except AlreadyExists:
            return "collided"
        return f"w{i}"

    answers = at_once(create)
    assert answers.count("collided") == THREADS - 1
    winner = next(a for a in answers if a != "collided")
    assert backend.runs.find(shared.id).workflow_slug == winner
