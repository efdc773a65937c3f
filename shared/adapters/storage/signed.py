"""Reading and writing one object through a V4 signed URL, as a validator job does: it
holds no storage role, so the URLs its launch signed are all it can reach (decision
record 0024). Plain HTTP: a GET streamed in chunks, a create-only PUT with exactly the
headers that were signed.

A location that is not an http(s) URL is a storage URI, read through its blob store:
where a deployment signs nothing (the fast path, tests that run no real job).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any, cast

from shared.adapters.storage import BlobExists, BlobNotFound, open_store

# Signed into every PUT URL a launch makes: the object may only be created, never
# replaced, so a job cannot overwrite another attempt's output (or its own).
CREATE_ONLY = {"x-goog-if-generation-match": "0"}
CHUNK = 1024 * 1024
TIMEOUT = (10, 300)


class Refused(Exception):
    """Storage refused the signed URL (its signature, scope or expiry)."""


def is_signed(location: str) -> bool:
    return location.startswith(("https://", "http://"))


def custom_time_header(retain_until: datetime | None) -> dict[str, str]:
    """The object's customTime as a signed header (its retention, as the launch set it)."""
    if retain_until is None:
        return {}
    moment = retain_until.astimezone(UTC)
    return {"x-goog-custom-time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def put_headers(retain_until: datetime | None) -> dict[str, str]:
    """The headers a create-only PUT URL is signed with, and sent with."""
    return CREATE_ONLY | custom_time_header(retain_until)


def _check(response: Any, location: str) -> None:
    if response.status_code == 404:
        raise BlobNotFound(location.split("?", 1)[0])
    if response.status_code == 412:
        raise BlobExists(location.split("?", 1)[0])
    if response.status_code >= 300:
        raise Refused(f"{response.status_code}: {response.text[:300]}")


@contextlib.contextmanager
def open_read(location: str) -> Iterator[IO[bytes]]:
    """The object as a stream, read in chunks."""
    if not is_signed(location):
        with open_store(location).open_read(location) as handle:
            yield handle
        return
    import requests

    with requests.get(location, stream=True, timeout=TIMEOUT) as response:
        _check(response, location)
        response.raw.decode_content = True
        yield cast(IO[bytes], response.raw)


def read_bytes(location: str) -> bytes:
    with open_read(location) as handle:
        return handle.read()


def create(
    location: str, data: bytes, content_type: str, retain_until: datetime | None = None
) -> None:
    """Creates the object; BlobExists when one is already there."""
    if not is_signed(location):
        open_store(location).write_bytes(
            location, data, content_type, create_only=True, retain_until=retain_until
        )
        return
    import requests

    headers = put_headers(retain_until) | {"Content-Type": content_type}
    response = requests.put(location, data=data, headers=headers, timeout=TIMEOUT)
    _check(response, location)
