"""Admission's per-instance counts (shared/services/admission.py), the per-address rate
limit's notion of a client (shared/auth/rate_limit.py) and the lazy clients built once
under concurrency (shared/once.py): from many threads at once, as the api's gen2
instances serve requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.auth import rate_limit
from shared.auth.rate_limit import RateLimiter, client_address
from shared.config import Settings
from shared.domain.enums import Execution
from shared.errors import TooManyRequests
from shared.once import once
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


def test_buckets_of_idle_clients_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limit, "MAX_BUCKETS", 100)
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limiter = RateLimiter(60, 2)
    for i in range(100):
        limiter.take(f"10.0.0.{i}")
    clock[0] += 2.0  # two tokens back at one a second: every bucket is full again
    limiter.take("10.0.1.1")
    assert len(limiter) == 1
    limiter.take("10.0.1.1")  # the busy one keeps its count: its third is refused
    with pytest.raises(TooManyRequests):
        limiter.take("10.0.1.1")


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
