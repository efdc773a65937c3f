"""What admission reads from Firestore: how many of an org's runs are in flight.

One count aggregation (equalities on org_id and status: served by the single-field
indexes, and by the runs' (org_id, status, created_at) index) stopped at `most`, so a
count costs one read per 1,000 index entries it passes, at most `most` of them, however
deep an org's backlog is."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.enums import RunStatus
from shared.persistence.repositories import RUNS, Repositories

IN_FLIGHT = [RunStatus.PENDING.value, RunStatus.RUNNING.value]


def runs_in_flight(repos: Repositories, org_id: str, most: int) -> int:
    """The org's runs not yet ended (queued, or running as a job or inline), up to `most`."""
    query: Any = (
        repos.db.collection(RUNS)
        .where(filter=FieldFilter("org_id", "==", org_id))
        .where(filter=FieldFilter("status", "in", IN_FLIGHT))
        .limit(most)
    )
    result = query.count().get()
    return int(result[0][0].value)
