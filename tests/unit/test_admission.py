"""Admission's per-instance counts (shared/services/admission.py), the per-address rate
limit's notion of a client (shared/api/auth/rate_limit.py) and the lazy clients built once
under concurrency (shared/platform/once.py): from many threads at once, as the api's gen2
instances serve requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.api.auth import rate_limit
from shared.api.auth.rate_limit import KnownKeys, RateLimiter, client_address
from shared.domain.enums import Execution
from shared.platform.config import Settings
from shared.platform.errors import TooManyRequests
from shared.platform.once import once
from shared.services.admission import Admission, admit

A, B = "org-a", "org-b"


def _admission(**limits: int) -> Admission:
    values = {"org_inline_checks": 2, "inline_checks_per_instance": 3, "org_waits": 2}
    return Admission(Settings(**(values | limits)))


def test_an_org_over_its_inline_checks_gets_the_job_path_and_another_org_does_not() -> None:
    admission = _admission()
    assert [admission.take_inline(A) for _ in range(3)] == [True, True, False]
    assert admission.take_inline(B)  # B's own count, untouched by A's
    assert not admission.take_inline(B)  # ... but the instance's three are all taken
    admission.release_inline(A)
    assert admission.take_inline(B)
    assert admission.in_flight(A) == (1, 0) and admission.in_flight(B) == (2, 0)


def test_admit_takes_a_slot_only_for_an_inline_plan_and_gives_it_back_at_the_end() -> None:
    admission = _admission()
    assert admit(Execution.INLINE) is Execution.INLINE  # no scope: the plan stands
    with admission.inline_scope(A):
        assert admit(Execution.JOB) is Execution.JOB
        assert admission.in_flight(A) == (0, 0)
        assert admit(Execution.INLINE) is Execution.INLINE
        assert admit(Execution.INLINE) is Execution.INLINE  # the same submission: one slot
        assert admission.in_flight(A) == (1, 0)
    assert admission.in_flight(A) == (0, 0)
    admission.take_inline(A), admission.take_inline(A)
    with admission.inline_scope(A):
        assert admit(Execution.INLINE) is Execution.JOB
    assert admission.in_flight(A) == (2, 0)  # the full scope released nothing it lacked


def test_a_scope_gives_its_slot_back_when_the_submission_fails() -> None:
    admission = _admission()
    with pytest.raises(RuntimeError), admission.inline_scope(A):
        admit(Execution.INLINE)
        raise RuntimeError("the submission failed")
    assert admission.in_flight(A) == (0, 0)


def test_waits_over_the_org_s_limit_are_refused_and_released_at_exit() -> None:
    admission = _admission()
    with (
        admission.waiting(A) as first,
        admission.waiting(A) as second,
        admission.waiting(A) as third,
        admission.waiting(B) as other,
    ):
        assert (first, second, third, other) == (True, True, False, True)
        assert admission.in_flight(A) == (0, 2)
    assert admission.in_flight(A) == (0, 0) and admission.in_flight(B) == (0, 0)


def test_under_many_threads_an_org_never_holds_more_than_its_limit() -> None:
    admission = _admission(org_inline_checks=3, inline_checks_per_instance=100, org_waits=4)
    most = {"inline": 0, "waits": 0}
    seen = threading.Lock()

    def request(i: int) -> tuple[Execution, bool]:
        with admission.inline_scope(A):
            execution = admit(Execution.INLINE)
            with admission.waiting(A) as waited:
                inline, waits = admission.in_flight(A)
                with seen:
                    most["inline"] = max(most["inline"], inline)
                    most["waits"] = max(most["waits"], waits)
                time.sleep(0.002)
        return execution, waited

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(request, range(400)))
    assert most == {"inline": 3, "waits": 4}
    assert {e for e, _ in answers} == {Execution.INLINE, Execution.JOB}
    assert admission.in_flight(A) == (0, 0)


@pytest.mark.parametrize(
    ("forwarded", "peer", "hops", "expected"),
    [
        # Google's front end appends the address it saw; what precedes it is the client's.
        ("203.0.113.7", "10.0.0.1", 1, "203.0.113.7"),
        ("1.1.1.1, 2.2.2.2, 203.0.113.7", "10.0.0.1", 1, "203.0.113.7"),
        ("1.1.1.1, 203.0.113.7, 35.191.0.1", "10.0.0.1", 2, "203.0.113.7"),
        (None, "198.51.100.2", 1, "198.51.100.2"),
        ("1.1.1.1", "198.51.100.2", 0, "198.51.100.2"),
        ("203.0.113.7", "198.51.100.2", 3, "198.51.100.2"),
        ("2001:db8:1:2:3:4:5:6", None, 1, "2001:db8:1:2::/64"),
        ("not an address", None, 1, "not an address"),
        (None, None, 1, "unknown"),
    ],
)
def test_the_client_is_the_entry_the_trusted_proxies_added(
    forwarded: str | None, peer: str | None, hops: int, expected: str
) -> None:
    assert client_address(forwarded, peer, hops) == expected


def test_a_client_cannot_escape_its_limit_by_writing_x_forwarded_for() -> None:
    limiter = RateLimiter(60, 3, who="this address")
    for spoof in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        limiter.take(client_address(f"{spoof}, 203.0.113.7", None, 1))
    with pytest.raises(TooManyRequests) as refused:
        limiter.take(client_address("4.4.4.4, 203.0.113.7", None, 1))
    assert refused.value.headers == {"Retry-After": "1"}
    assert "this address is over its rate limit of 60" in refused.value.detail
    limiter.take(client_address("4.4.4.4, 198.51.100.9", None, 1))  # another client


def test_the_bucket_table_has_a_hard_cap_and_evicts_the_client_idle_longest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rotating addresses (an IPv6 host walks its /48's /64s) never grow the table past
    its cap, full or not; a throttled client that keeps asking is used recently, so it
    is never the one evicted, and keeps its count."""
    monkeypatch.setattr(rate_limit, "MAX_BUCKETS", 100)
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limiter = RateLimiter(60, 2)
    busy = client_address("2001:db8:ffff:1::1", None, 1)
    limiter.take(busy)
    limiter.take(busy)
    for i in range(5_000):
        clock[0] += 0.0001  # no bucket refills meanwhile: none of them is full
        with pytest.raises(TooManyRequests):
            limiter.take(busy)
        limiter.take(client_address(f"2001:db8:{i // 256:x}:{i % 256:x}::1", None, 1))
        assert len(limiter) <= 100
    assert len(limiter) == 100


def test_check_takes_nothing_and_makes_no_bucket() -> None:
    limiter = RateLimiter(60, 2)
    for _ in range(10):
        limiter.check("203.0.113.7")
    assert len(limiter) == 0  # a client never charged holds no entry
    limiter.take("203.0.113.7")
    limiter.check("203.0.113.7")
    limiter.check("203.0.113.7")
    limiter.take("203.0.113.7")  # the checks left the second request in the bucket
    with pytest.raises(TooManyRequests) as refused:
        limiter.check("203.0.113.7")
    assert refused.value.headers == {"Retry-After": "1"}


def test_known_keys_are_digests_recent_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    known = KnownKeys(seconds=60, most=3)
    known.add("Bearer assay_one_secret")
    assert known.recent("Bearer assay_one_secret")
    assert not known.recent("Bearer assay_one_guess")  # the same key id, not its secret
    assert not known.recent(None) and not known.recent("")
    for other in ("two", "three", "four"):
        known.add(f"Bearer assay_{other}_secret")
    assert not known.recent("Bearer assay_one_secret")  # the oldest went past the cap
    clock[0] += 61
    assert not known.recent("Bearer assay_four_secret")


def test_the_blob_store_of_a_scheme_is_built_once_however_many_threads_ask_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.adapters.storage import _store, local, open_store

    built: list[object] = []

    class Slow(local.LocalBlobStore):
        def __init__(self) -> None:
            time.sleep(0.05)  # long enough for every thread to arrive meanwhile
            built.append(self)

    monkeypatch.setattr(local, "LocalBlobStore", Slow)
    _store.cache_clear()
    start = threading.Barrier(16)

    def first(_: int) -> object:
        start.wait()
        return open_store("file:///tmp/anywhere")

    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(first, range(16)))
    finally:
        _store.cache_clear()  # later tests build the real one
    assert len(built) == 1 and all(a is built[0] for a in answers)
    with pytest.raises(ValueError, match="no blob store"):
        open_store("s3://bucket/x")


def test_a_lazy_client_is_built_once_however_many_threads_ask_first() -> None:
    built: list[object] = []
    start = threading.Barrier(16)

    @once
    def client() -> object:
        time.sleep(0.05)  # long enough for every thread to arrive meanwhile
        built.append(object())
        return built[-1]

    def first(_: int) -> Any:
        start.wait()
        return client()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(first, range(16)))
    assert len(built) == 1 and all(a is built[0] for a in answers)
    client.cache_clear()
    assert client() is built[1]
