"""How long content is kept, from a retention policy."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.domain.enums import RetentionPolicy

_KEEP = {
    RetentionPolicy.STORE_1_DAY: timedelta(days=1),
    RetentionPolicy.STORE_7_DAYS: timedelta(days=7),
    RetentionPolicy.STORE_30_DAYS: timedelta(days=30),
}


# The wait before each retry of a failed purge; after the last one fails, a person acts.
RETRY_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
)


def expires_at(policy: RetentionPolicy, start: datetime) -> datetime | None:
    """None for DO_NOT_STORE (purged as soon as the run ends, not on a date) and for
    STORE_PERMANENTLY (never)."""
    keep = _KEEP.get(policy)
    return start + keep if keep else None


def output_expires_at(policy: RetentionPolicy, ended: datetime) -> datetime | None:
    """When a run's execution bundle may go: DO_NOT_STORE at once, as soon as it ends."""
    if policy is RetentionPolicy.DO_NOT_STORE:
        return ended
    return expires_at(policy, ended)
