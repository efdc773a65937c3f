"""Submissions (the record of a file sent, its content location and retention) and the
Idempotency-Key records that make a repeated request answer as the first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.domain.models import IdempotencyRecord, Submission
from shared.persistence.firestore.documents import (
    IDEMPOTENCY_KEYS,
    SUBMISSIONS,
    Collections,
    from_snapshot,
)


class FirestoreSubmissions(Collections):
    def get(self, org_id: str, submission_id: str) -> Submission:
        return self.owned(SUBMISSIONS, Submission, org_id, submission_id, "submission")

    def find(self, submission_id: str | None, transaction: Any = None) -> Submission | None:
        """The submission or None: a run must stay readable after its submission is gone."""
        if not submission_id:
            return None
        snap = self.db.collection(SUBMISSIONS).document(submission_id).get(transaction=transaction)
        return from_snapshot(Submission, snap) if snap.exists else None

    def by_id(
        self, submission_ids: Sequence[str], transaction: Any = None
    ) -> dict[str, Submission | None]:
        """Each of `submission_ids` (None for one that is gone), read in one call."""
        refs = [self.db.collection(SUBMISSIONS).document(sid) for sid in submission_ids]
        snaps = self.db.get_all(refs, transaction=transaction) if refs else []
        found = {s.id: from_snapshot(Submission, s) for s in snaps if s.exists}
        return {sid: found.get(sid) for sid in submission_ids}

    def idempotency(self, record_id: str) -> IdempotencyRecord | None:
        snap = self.db.collection(IDEMPOTENCY_KEYS).document(record_id).get()
        if not snap.exists:
            return None
        record = from_snapshot(IdempotencyRecord, snap)
        record.updated = snap.update_time
        return record
