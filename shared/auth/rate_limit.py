"""Per-key rate limits: a token bucket per API key, in this instance's memory.

Counting costs no Firestore write (the hot path stays one key read). Each instance of
the `api` function keeps its own buckets, so the limit a key meets is per instance: with
N instances a burst may reach N times the limit before every instance has seen it. That
is the price of no shared counter; the limit is meant to stop a runaway client, not to
meter it (docs/decisions/0012).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from shared.errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        """One request for `key_id`, or TooManyRequests saying when to come back."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key_id) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets[key_id] = bucket
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = math.ceil((1 - bucket.tokens) / self.rate) if self.rate else 60
        raise TooManyRequests(
            f"this API key is over its rate limit of {round(self.rate * 60)} requests a "
            f"minute; retry in {wait}s",
            headers={"Retry-After": str(wait)},
        )
