"""A value built on first use, once per process, whatever the number of threads.

The `api` serves many requests at once per instance (gen2 concurrency), so two first
requests may ask for a client together. functools.lru_cache does not hold a lock while
it builds: both would build one, and state that must be one per process (the admission
counters, a rate limiter's buckets) would be split in two, each half seen by whichever
request got it. `once` builds under a lock and reads without one afterwards.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        # A one-tuple, so a built None is told from nothing built; replaced whole, so a
        # reader without the lock sees either nothing or the finished value.
        self._box: tuple[T] | None = None
        functools.update_wrapper(self, build)

    def __call__(self) -> T:
        box = self._box
        if box is not None:
            return box[0]
        with self._lock:
            if self._box is None:
                self._box = (self._build(),)
            return self._box[0]

    def cache_clear(self) -> None:
        """Forget the value (tests change the environment); the next call builds anew."""
        with self._lock:
            self._box = None


def once(build: Callable[[], T]) -> Once[T]:
    return Once(build)
