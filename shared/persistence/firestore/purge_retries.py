"""PurgeRetry records (`purge_retries/{submission}`): a purge that failed, or a
DO_NOT_STORE purge scheduled when its run ended, waiting for the retry function."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import PurgeRetry, PurgeRetryState
from shared.persistence.firestore.documents import PURGE_RETRIES, Collections, from_snapshot


class FirestorePurgeRetries(Collections):
    def _ref(self, submission_id: str) -> Any:
        return self.db.collection(PURGE_RETRIES).document(submission_id)

    def find(self, submission_id: str, transaction: Any = None) -> PurgeRetry | None:
        snap = self._ref(submission_id).get(transaction=transaction)
        return from_snapshot(PurgeRetry, snap) if snap.exists else None

    def delete(self, submission_id: str) -> None:
        self._ref(submission_id).delete()

    def put_off(self, submission_id: str, until: datetime, at: datetime) -> None:
        """Moves an existing retry's next attempt to `until` (none: nothing to put off)."""
        with contextlib.suppress(gexc.NotFound):
            self._ref(submission_id).update({"next_retry_at": until, "updated_at": at})

    def due(self, now: datetime, limit: int) -> list[PurgeRetry]:
        """PENDING retries whose time has come, the longest-waiting first."""
        query = (
            self.db.collection(PURGE_RETRIES)
            .where(filter=FieldFilter("state", "==", PurgeRetryState.PENDING.value))
            .where(filter=FieldFilter("next_retry_at", "<=", now))
            .order_by("next_retry_at")
            .limit(limit)
        )
        return [from_snapshot(PurgeRetry, s) for s in query.stream()]

    def all(self, state: PurgeRetryState | None = None) -> list[PurgeRetry]:
        """Every retry record, or those in `state`, oldest change first."""
        query: Any = self.db.collection(PURGE_RETRIES)
        if state is not None:
            query = query.where(filter=FieldFilter("state", "==", state.value))
        return sorted(
            (from_snapshot(PurgeRetry, s) for s in query.stream()), key=lambda r: r.updated_at
        )

    def among(self, submission_ids: Sequence[str]) -> set[str]:
        """Which of `submission_ids` have a PurgeRetry, in one read."""
        refs = [self._ref(sid) for sid in submission_ids]
        return {s.id for s in self.db.get_all(refs) if s.exists} if refs else set()
