"""Callback receipts and purge retries in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.domain.enums import ReceiptClaim, ReceiptState
from shared.domain.models import CallbackReceipt, PurgeRetry, PurgeRetryState
from shared.persistence.memory import reads
from shared.persistence.memory.store import (
    CALLBACK_RECEIPTS,
    PURGE_RETRIES,
    Store,
    create,
    delete,
    fields,
    update,
)


class MemoryReceipts:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def claim(self, receipt: CallbackReceipt) -> ReceiptClaim:
        """Creates the receipt held by its owner, or takes over one whose lease ran out
        by `receipt.received_at`. Under the lock the read and the takeover are one step,
        so of two deliveries that find the lease run out, the second finds the first's."""
        with self._store.lock:
            existing = self.find(receipt.id)
            if existing is None:
                self._store.commit([create(CALLBACK_RECEIPTS, receipt.id, receipt)])
                return ReceiptClaim.TAKEN
            if existing.state is not ReceiptState.PROCESSING:
                return ReceiptClaim.PROCESSED
            lease = existing.lease_expires_at
            if lease is not None and lease > receipt.received_at:
                return ReceiptClaim.BUSY
            held = fields(owner=receipt.owner, lease_expires_at=receipt.lease_expires_at)
            self._store.commit([update(CALLBACK_RECEIPTS, receipt.id, held)])
            return ReceiptClaim.TAKEN

    def find(self, callback_id: str) -> CallbackReceipt | None:
        return reads.find(self._reader, CALLBACK_RECEIPTS, callback_id, CallbackReceipt)

    def close(self, callback_id: str, state: ReceiptState) -> None:
        """Ends a receipt that is still PROCESSING; any other is left alone."""
        with self._store.lock:
            existing = self.find(callback_id)
            if existing is not None and existing.state is ReceiptState.PROCESSING:
                self._store.commit([update(CALLBACK_RECEIPTS, callback_id, fields(state=state))])


class MemoryPurgeRetries:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def find(self, submission_id: str) -> PurgeRetry | None:
        return reads.find(self._reader, PURGE_RETRIES, submission_id, PurgeRetry)

    def delete(self, submission_id: str) -> None:
        self._store.commit([delete(PURGE_RETRIES, submission_id)])

    def put_off(self, submission_id: str, until: datetime, at: datetime) -> None:
        """Moves an existing retry's next attempt to `until`; none: nothing happens."""
        with self._store.lock:
            if self._store.get(PURGE_RETRIES, submission_id) is not None:
                later = fields(next_retry_at=until, updated_at=at)
                self._store.commit([update(PURGE_RETRIES, submission_id, later)])

    def due(self, now: datetime, limit: int) -> list[PurgeRetry]:
        """PENDING retries due by `now`, the longest-waiting first (ties by id)."""
        due = [
            r
            for r, _ in self._store.models(PURGE_RETRIES, PurgeRetry)
            if r.state is PurgeRetryState.PENDING and r.next_retry_at <= now
        ]
        due.sort(key=lambda r: r.next_retry_at)
        return [r.model_copy(deep=True) for r in due[:limit]]

    def all(self, state: PurgeRetryState | None = None) -> list[PurgeRetry]:
        """Oldest change first (ties by id)."""
        found = [
            r
            for r, _ in self._store.models(PURGE_RETRIES, PurgeRetry)
            if state is None or r.state is state
        ]
        found.sort(key=lambda r: r.updated_at)
        return [r.model_copy(deep=True) for r in found]

    def among(self, submission_ids: Sequence[str]) -> set[str]:
        with self._store.lock:
            return {s for s in submission_ids if self._store.get(PURGE_RETRIES, s) is not None}
