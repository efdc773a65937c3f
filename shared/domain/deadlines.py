"""When the reconcile pass should look at a run that nothing else has moved.

Every unfinished run carries `reconcile_at`. Each move that expects a next event sets it
to when that event is overdue: a queued launch should have claimed its step within
the launch grace (a setting); a claim lapses at its lease; a running step's job is overdue at its
timeout plus DEADLINE_MARGIN (the time the callback needs to arrive). A run that ends
clears it, unless an execution still has to be stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEADLINE_MARGIN = timedelta(minutes=1)
# How soon to look again at an ended run whose execution could not be cancelled.
CANCEL_RETRY = timedelta(minutes=1)


def launch_overdue(at: datetime, grace_seconds: float) -> datetime:
    """A queued launch should have claimed its step by then (ASSAY_LAUNCH_GRACE_SECONDS)."""
    return at + timedelta(seconds=grace_seconds)


def step_overdue(started_at: datetime, timeout_seconds: int) -> datetime:
    return started_at + timedelta(seconds=timeout_seconds) + DEADLINE_MARGIN
