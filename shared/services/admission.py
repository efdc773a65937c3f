"""Admission: how much work one org may have in flight, so that it cannot starve another
(issue 20, decision record 0029).

Per api instance, in memory (a lock and two counters, nothing written): an org's inline
checks (ASSAY_ORG_INLINE_CHECKS; and ASSAY_INLINE_CHECKS_PER_INSTANCE for every org
together) and its held `Prefer: wait`s (ASSAY_ORG_WAITS). Both hold a request, and a
request holds a share of its instance, so both are the instance's to count. Over the
first, a submission takes the job path (the same verdict, decision record 0021); over
the second, the answer comes at once, without waiting (RFC 7240 lets a server ignore a
preference; `Preference-Applied` is then absent).

Shared, in Firestore: an org's runs in flight, the queued and the running ones
(ASSAY_ORG_RUNS_IN_FLIGHT). They live in Firestore, not in any one instance, so they are
counted there, one count aggregation per submission. Running ones count too: the job
quotas (jobs.run calls, running executions per region) are the project's, shared by
every org. Over it, a 429 with Retry-After (for an upload URL too; the upload trigger
answers 503, so Eventarc delivers the object again later). The count and the write that
follows are not one transaction, so the submissions this instance is admitting at that
moment are counted with the stored runs: concurrent requests on one instance cannot all
pass a count that none of their runs is in yet. (One counted twice, once stored and once
being admitted, only ever errs towards refusing.) Across instances they can: an org may
exceed the limit by what other instances admit in the same moment.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from shared.domain.enums import Execution
from shared.persistence.ports import Repositories
from shared.platform.config import Settings
from shared.platform.errors import TooManyRequests

log = logging.getLogger(__name__)

# A small run ends within seconds of its launch; asking again sooner is pointless.
QUEUE_RETRY_SECONDS = 5


class Admission:
    """This instance's counts of each org's inline checks and held waits."""

    def __init__(self, settings: Settings) -> None:
        self.org_inline = settings.org_inline_checks
        self.instance_inline = settings.inline_checks_per_instance
        self.org_waits = settings.org_waits
        self._lock = threading.Lock()
        self._inline: Counter[str] = Counter()
        self._waits: Counter[str] = Counter()
        self._admitting: Counter[str] = Counter()

    def take_inline(self, org_id: str) -> bool:
        with self._lock:
            if self._inline[org_id] >= self.org_inline:
                return False
            if self._inline.total() >= self.instance_inline:
                return False
            self._inline[org_id] += 1
            return True

    def release_inline(self, org_id: str) -> None:
        with self._lock:
            self._inline[org_id] -= 1
            if self._inline[org_id] <= 0:
                del self._inline[org_id]  # no entry per org ever seen

    @contextmanager
    def waiting(self, org_id: str) -> Iterator[bool]:
        """Whether this request may hold its answer for the org's run; released at exit."""
        with self._lock:
            granted = self._waits[org_id] < self.org_waits
            if granted:
                self._waits[org_id] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._waits[org_id] -= 1
                    if self._waits[org_id] <= 0:
                        del self._waits[org_id]

    @contextmanager
    def submission(self, repos: Repositories, settings: Settings, org_id: str) -> Iterator[None]:
        """A submission (or re-run) of a run for `org_id` runs within this: refused with
        TooManyRequests when the org's runs in flight are at its limit, counting those
        this instance is admitting now; and within an inline scope."""
        with self._lock:
            others = self._admitting[org_id]
            self._admitting[org_id] += 1
        try:
            check_queue(repos, settings, org_id, admitting=others)
            with self.inline_scope(org_id):
                yield
        finally:
            with self._lock:
                self._admitting[org_id] -= 1
                if self._admitting[org_id] <= 0:
                    del self._admitting[org_id]

    def in_flight(self, org_id: str) -> tuple[int, int]:
        """(inline checks, held waits) of the org on this instance now."""
        with self._lock:
            return self._inline[org_id], self._waits[org_id]

    @contextmanager
    def inline_scope(self, org_id: str) -> Iterator[None]:
        """A submission for `org_id` runs within this: should it plan an inline run,
        `admit` takes an inline slot for it, held until the scope ends (the check done)."""
        scope = _Scope(self, org_id)
        token = _scope.set(scope)
        try:
            yield
        finally:
            _scope.reset(token)
            if scope.held:
                self.release_inline(org_id)


@dataclass
class _Scope:
    admission: Admission
    org_id: str
    held: bool = False

    def take(self) -> bool:
        if not self.held:
            self.held = self.admission.take_inline(self.org_id)
        return self.held


# The request's scope: each request has its own thread, and each thread its own context.
_scope: ContextVar[_Scope | None] = ContextVar("assay_admission_scope", default=None)


def admit(execution: Execution) -> Execution:
    """The execution a submission gets: INLINE only with a slot for its org (else JOB,
    which gives the same verdict). Outside a scope (the upload trigger, a direct call)
    the plan stands."""
    scope = _scope.get()
    if execution is not Execution.INLINE or scope is None or scope.take():
        return execution
    log.info("inline checks at their limit: the job path", extra={"org_id": scope.org_id})
    return Execution.JOB


def check_queue(
    repos: Repositories, settings: Settings, org_id: str, *, admitting: int = 0
) -> None:
    """TooManyRequests when the org already has its limit of runs in flight: stored,
    and `admitting` more on their way in."""
    most = settings.org_runs_in_flight
    if admitting < most and repos.runs.in_flight(org_id, most - admitting) + admitting < most:
        return
    raise TooManyRequests(
        f"this organization has {most} runs in flight (PENDING or RUNNING), its limit; "
        f"retry in {QUEUE_RETRY_SECONDS}s, once some have ended",
        headers={"Retry-After": str(QUEUE_RETRY_SECONDS)},
    )
