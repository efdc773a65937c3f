"""Callback receipts (`callback_receipts/{callback_id}`): the fence that lets exactly one
delivery of a callback record the step's result. A receipt is held under a lease, so a
delivery that died is taken over, and ends DONE (recorded) or REFUSED."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from shared.domain.enums import ReceiptClaim, ReceiptState
from shared.domain.models import CallbackReceipt
from shared.persistence.firestore.documents import (
    CALLBACK_RECEIPTS,
    Collections,
    from_snapshot,
    to_doc,
    transactional,
)


class FirestoreReceipts(Collections):
    def _ref(self, callback_id: str) -> Any:
        return self.db.collection(CALLBACK_RECEIPTS).document(callback_id)

    def find(self, callback_id: str, transaction: Any = None) -> CallbackReceipt | None:
        snap = self._ref(callback_id).get(transaction=transaction)
        return from_snapshot(CallbackReceipt, snap) if snap.exists else None

    def claim(self, receipt: CallbackReceipt) -> ReceiptClaim:
        """Creates the receipt held by `receipt.owner`; or takes over one whose holder
        died (its lease ran out), unless another delivery takes it over first."""
        ref = self._ref(receipt.id)
        try:
            ref.create(to_doc(receipt))
            return ReceiptClaim.TAKEN
        except gexc.Conflict:
            pass
        snap = ref.get()
        existing = from_snapshot(CallbackReceipt, snap)
        if existing.state is not ReceiptState.PROCESSING:
            return ReceiptClaim.PROCESSED
        if existing.lease_expires_at and existing.lease_expires_at > receipt.received_at:
            return ReceiptClaim.BUSY
        try:
            ref.update(
                {"owner": receipt.owner, "lease_expires_at": receipt.lease_expires_at},
                option=self.db.write_option(last_update_time=snap.update_time),
            )
        except (gexc.FailedPrecondition, gexc.Conflict):
            return ReceiptClaim.BUSY
        return ReceiptClaim.TAKEN

    def close(self, callback_id: str, state: ReceiptState) -> None:
        """Ends a receipt that is still PROCESSING (a refused or abandoned delivery)."""
        ref = self._ref(callback_id)

        def close(transaction: Any) -> None:
            snap = ref.get(transaction=transaction)
            if snap.exists and snap.get("state") == ReceiptState.PROCESSING.value:
                transaction.update(ref, {"state": state.value})

        transactional(self.db, close)
