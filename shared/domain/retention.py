"""How long content is kept, from a retention policy."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.domain.enums import RetentionPolicy

_KEEP = {
    RetentionPolicy.STORE_1_DAY: timedelta(days=1),
    RetentionPolicy.STORE_7_DAYS: timedelta(days=7),
    RetentionPolicy.STORE_30_DAYS: timedelta(days=30),
    RetentionPolicy.STORE_90_DAYS: timedelta(days=90),
    RetentionPolicy.STORE_1_YEAR: timedelta(days=365),
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


def retain_until(policy: RetentionPolicy, start: datetime) -> datetime | None:
    """When what a policy keeps may go, counted from `start`: DO_NOT_STORE at once,
    STORE_PERMANENTLY never. A run's bundle expires this long after the run ends, and
    every stored object carries it as its customTime (the buckets' lifecycle rule
    deletes an object a day past it if the purge has not)."""
    if policy is RetentionPolicy.DO_NOT_STORE:
        return start
    return expires_at(policy, start)
