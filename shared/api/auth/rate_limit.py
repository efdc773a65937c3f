"""Rate limits: a token bucket per API key, and one per client address for requests
without a valid key, in this instance's memory.

Counting costs no Firestore write (the hot path stays one key read). Each instance of
the `api` function keeps its own buckets, so the limit a caller meets is per instance:
with N instances a burst may reach N times the limit before every instance has seen it.
That is the price of no shared counter; the limit is meant to stop a runaway client, not
to meter it (docs/decisions/0012). The table holds at most MAX_BUCKETS: past it, the
bucket idle longest goes (decision record 0029), so a flood of new addresses cannot grow
it without end.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from dataclasses import dataclass

from shared.platform.errors import TooManyRequests

# At most this many buckets; a new one evicts the one idle longest. Idle longest is
# fullest: a bucket refills as it idles, so those evicted first are those whose loss
# costs nothing (a full bucket is what a new one starts as). Only a flood of more new
# clients than this between two requests of a throttled one resets it, and such a flood
# already has a full bucket per address of its own.
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, who: str = "this API key") -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self.who = who
        # In order of last use (a used bucket moves to the end): the first is idle longest.
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        """One request for `key_id`, or TooManyRequests saying when to come back."""
        self._charge(key_id, take=True)

    def check(self, key_id: str) -> None:
        """TooManyRequests when `key_id` has no request left now; nothing is taken, and
        no bucket is made for a client never charged."""
        self._charge(key_id, take=False)

    def _charge(self, key_id: str, *, take: bool) -> None:
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.pop(key_id, None)
            if bucket is None and not take:
                return
            bucket = bucket or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            while len(self._buckets) >= MAX_BUCKETS:
                del self._buckets[next(iter(self._buckets))]
            self._buckets[key_id] = bucket
            if bucket.tokens >= 1:
                bucket.tokens -= 1 if take else 0
                return
            wait = math.ceil((1 - bucket.tokens) / self.rate) if self.rate else 60
        raise TooManyRequests(
            f"{self.who} is over its rate limit of {round(self.rate * 60)} requests a "
            f"minute; retry in {wait}s",
            headers={"Retry-After": str(wait)},
        )

    def __len__(self) -> int:
        return len(self._buckets)


def client_address(forwarded_for: str | None, peer: str | None, hops: int) -> str:
    """Whom a request without a valid key is counted against. Each proxy appends the
    address it saw to X-Forwarded-For, so only the entries the trusted proxies added can
    be believed: with `hops` of them (1 on Cloud Functions: Google's front end), the
    `hops`-th entry from the end; whatever a client wrote precedes it. With none, or a
    header too short to hold them, the connection's peer. An IPv6 client counts as its
    /64, which one subscriber usually holds whole."""
    entries = [e.strip() for e in forwarded_for.split(",")] if forwarded_for else []
    raw = entries[-hops] if hops and len(entries) >= hops else (peer or "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64] or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class KnownKeys:
    """Digests of the Authorization headers that authenticated on this instance lately.
    The per-address gate before authentication (0029) lets these through: a valid key
    behind an address shared with a client that keeps failing (a NAT, a CI provider's
    egress) still reaches its own key's limit. A digest, not a key id, since knowing an
    id does not make a guess of its secret valid."""

    def __init__(self, seconds: float = 600, most: int = MAX_BUCKETS) -> None:
        self.seconds, self.most = seconds, most
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(authorization: str) -> str:
        return hashlib.sha256(authorization.encode("utf-8", "replace")).hexdigest()

    def add(self, authorization: str) -> None:
        digest, now = self._digest(authorization), time.monotonic()
        with self._lock:
            self._seen.pop(digest, None)
            while len(self._seen) >= self.most:
                del self._seen[next(iter(self._seen))]
            self._seen[digest] = now

    def recent(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        digest = self._digest(authorization)
        with self._lock:
            at = self._seen.get(digest)
            return at is not None and time.monotonic() - at < self.seconds
