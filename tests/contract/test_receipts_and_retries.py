"""Callback receipts (claim, lease, close) and purge retries."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import ReceiptClaim, ReceiptState
from shared.domain.models import PurgeRetryState
from shared.platform.ids import new_id
from tests.contract.builders import at, purge_retry, receipt, save

pytestmark = pytest.mark.contract


def test_the_first_claim_takes_the_receipt(backend: Any) -> None:
    assert backend.receipts.claim(receipt("cb", "me", 0)) is ReceiptClaim.TAKEN
    assert backend.receipts.find("cb") == receipt("cb", "me", 0)
    assert backend.receipts.find("other") is None


def test_a_claim_while_the_lease_holds_is_busy(backend: Any) -> None:
    backend.receipts.claim(receipt("cb", "me", 0, lease_minutes=5))
    assert backend.receipts.claim(receipt("cb", "you", 4)) is ReceiptClaim.BUSY
    assert backend.receipts.find("cb").owner == "me"


def test_a_claim_after_the_lease_takes_over(backend: Any) -> None:
    backend.receipts.claim(receipt("cb", "me", 0, lease_minutes=5))
    assert backend.receipts.claim(receipt("cb", "you", 5)) is ReceiptClaim.TAKEN
    stored = backend.receipts.find("cb")
    assert (stored.owner, stored.lease_expires_at, stored.state) == (
        "you",
        at(10),
        ReceiptState.PROCESSING,
    )
    assert backend.receipts.claim(receipt("cb", "me", 6)) is ReceiptClaim.BUSY


@pytest.mark.parametrize("state", [ReceiptState.DONE, ReceiptState.REFUSED])
def test_a_closed_receipt_is_processed(backend: Any, state: ReceiptState) -> None:
    backend.receipts.claim(receipt("cb", "me", 0))
    backend.receipts.close("cb", state)
    assert backend.receipts.find("cb").state is state
    assert backend.receipts.claim(receipt("cb", "you", 100)) is ReceiptClaim.PROCESSED
    assert backend.receipts.find("cb").owner == "me"


def test_closing_leaves_an_ended_or_missing_receipt_alone(backend: Any) -> None:
    backend.receipts.claim(receipt("cb", "me", 0))
    backend.receipts.close("cb", ReceiptState.DONE)
    backend.receipts.close("cb", ReceiptState.REFUSED)
    assert backend.receipts.find("cb").state is ReceiptState.DONE
    backend.receipts.close("missing", ReceiptState.REFUSED)
    assert backend.receipts.find("missing") is None


def test_a_retry_is_found_and_deleted(backend: Any) -> None:
    retry = purge_retry("a")
    save(backend, retry)
    assert backend.purge_retries.find(retry.submission_id) == retry
    backend.purge_retries.delete(retry.submission_id)
    assert backend.purge_retries.find(retry.submission_id) is None
    backend.purge_retries.delete(retry.submission_id)  # a second delete is no error


def test_putting_off_moves_the_next_attempt(backend: Any) -> None:
    retry = purge_retry("a", due=0, updated=0)
    save(backend, retry)
    backend.purge_retries.put_off(retry.submission_id, at(30), at(1))
    assert backend.purge_retries.find(retry.submission_id) == retry.model_copy(
        update={"next_retry_at": at(30), "updated_at": at(1)}
    )


def test_putting_off_a_missing_retry_does_nothing(backend: Any) -> None:
    gone = new_id()
    backend.purge_retries.put_off(gone, at(30), at(1))
    assert backend.purge_retries.find(gone) is None
    assert backend.purge_retries.all() == []


def test_due_retries_are_pending_and_due_longest_waiting_first(backend: Any) -> None:
    waiting = [purge_retry("a", due=m) for m in (3, 1, 2, 5)]
    attention = purge_retry("a", due=0, state=PurgeRetryState.NEEDS_ATTENTION)
    save(backend, *waiting, attention, purge_retry("a", due=6))
    due = backend.purge_retries.due(at(5), limit=10)
    assert [r.next_retry_at for r in due] == [at(1), at(2), at(3), at(5)]
    assert [r.next_retry_at for r in backend.purge_retries.due(at(5), limit=2)] == [at(1), at(2)]


def test_all_retries_come_oldest_change_first_and_filter_by_state(backend: Any) -> None:
    retries = [purge_retry("a", updated=m) for m in (2, 0, 1)]
    attention = purge_retry("a", updated=3, state=PurgeRetryState.NEEDS_ATTENTION)
    save(backend, *retries, attention)
    assert [r.updated_at for r in backend.purge_retries.all()] == [at(0), at(1), at(2), at(3)]
    pending = backend.purge_retries.all(PurgeRetryState.PENDING)
    assert [r.updated_at for r in pending] == [at(0), at(1), at(2)]
    assert backend.purge_retries.all(PurgeRetryState.NEEDS_ATTENTION) == [attention]


def test_among_says_which_submissions_have_a_retry(backend: Any) -> None:
    one, two = purge_retry("a"), purge_retry("b")
    save(backend, one, two)
    missing = new_id()
    assert backend.purge_retries.among([one.submission_id, missing, two.submission_id]) == {
        one.submission_id,
        two.submission_id,
    }
    assert backend.purge_retries.among([missing]) == set()
    assert backend.purge_retries.among([]) == set()
