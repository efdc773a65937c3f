"""Rate limits: a token bucket per API key, and one per client address for requests
without a valid key, in this instance's memory.

Counting costs no Firestore write (the hot path stays one key read). Each instance of
the `api` function keeps its own buckets, so the limit a caller meets is per instance:
with N instances a burst may reach N times the limit before every instance has seen it.
That is the price of no shared counter; the limit is meant to stop a runaway client, not
to meter it (docs/decisions/0012). Buckets idle long enough to be full again are
forgotten, so a flood of new addresses cannot grow the table without end.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass

from shared.errors import TooManyRequests

# Past this many buckets, the full ones are dropped (they hold nothing a new one lacks).
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
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        """One request for `key_id`, or TooManyRequests saying when to come back."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key_id) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if key_id not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            self._buckets[key_id] = bucket
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = math.ceil((1 - bucket.tokens) / self.rate) if self.rate else 60
        raise TooManyRequests(
            f"{self.who} is over its rate limit of {round(self.rate * 60)} requests a "
            f"minute; retry in {wait}s",
            headers={"Retry-After": str(wait)},
        )

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate if self.rate else math.inf
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.at < refill}

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
