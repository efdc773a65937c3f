"""How long content is kept, from a retention policy."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.domain.enums import RetentionPolicy

_KEEP = {
    RetentionPolicy.STORE_1_DAY: timedelta(days=1),
    RetentionPolicy.STORE_7_DAYS: timedelta(days=7),
    RetentionPolicy.STORE_30_DAYS: timedelta(days=30),
}


def expires_at(policy: RetentionPolicy, start: datetime) -> datetime | None:
    """None for DO_NOT_STORE (purged as soon as the run ends, not on a date) and for
    STORE_PERMANENTLY (never)."""
    keep = _KEEP.get(policy)
    return start + keep if keep else None
