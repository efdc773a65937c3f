"""Public keys fetched by URL and kept: refreshed after a TTL, or when a token names a
key the cache does not hold (at most once a minute, so a stream of forged key ids
cannot make every request fetch). Google's token certificates and IAP's keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from shared.platform.errors import Transient

# Google rotates its keys over days; five minutes bounds how long a revoked one is used.
CERTS_TTL_SECONDS = 300
# A token naming an unknown key refreshes the keys at most this often.
CERTS_MIN_REFRESH_SECONDS = 60


class KeyCache:
    """Keys by URL, as `parse` reads the answer: a map of key id to PEM."""

    def __init__(self, parse: Callable[[Any], dict[str, str]], what: str) -> None:
        self._parse, self._what = parse, what
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, dict[str, str]]] = {}
        self._session: requests.Session | None = None

    def get(self, url: str, *, refresh: bool = False) -> dict[str, str]:
        with self._lock:
            cached = self._keys.get(url)
            if cached:
                age = time.monotonic() - cached[0]
                fresh_enough = CERTS_MIN_REFRESH_SECONDS if refresh else CERTS_TTL_SECONDS
                if age < fresh_enough:
                    return cached[1]
            keys = self._fetch(url)
            self._keys[url] = (time.monotonic(), keys)
            return keys

    def _fetch(self, url: str) -> dict[str, str]:
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.get(url, timeout=5)
            response.raise_for_status()
            return self._parse(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise Transient(f"could not fetch {self._what}: {exc}") from exc
