"""One blob-store interface; the implementation is chosen by the URI scheme.

URIs are `file:///abs/path` locally and `gs://bucket/name` on Google Cloud, with the
same paths under both (see layout.py). A `gs://` URI may pin a generation as gsutil
writes it, `gs://bucket/name#1700000000000000`: a read, copy or delete then touches
that version only, never a newer object uploaded under the same name.

In both schemes the name is percent-encoded (`encode_name`): an object name may hold
any character Cloud Storage allows, `#`, `?` and `%` included, and its URI still names
it and only it. Names of letters, digits, `/`, `.`, `-` and `_` (every name Assay makes
itself) read the same encoded or not, so URIs stored before the encoding still work.

`retain_until` is when the object's retention ends. It becomes the object's customTime,
and each bucket's lifecycle rule deletes objects a day past their customTime: the safety
net behind the purge (none for content kept permanently). `file://` has no lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from functools import partial
from typing import IO, BinaryIO, Protocol
from urllib.parse import quote, unquote

from shared.platform.once import once

# Kept as they are in a URI's name: what no URI parser splits or decodes.
_NAME_SAFE = "/-._~!$&'()*+,=:@"


def encode_name(name: str) -> str:
    """An object name as it stands in a URI: `#` (a generation follows), `?`, `%`,
    spaces, control characters and non-ASCII are percent-encoded. A name from a local
    folder that is not UTF-8 (surrogate-escaped by Python) keeps its bytes."""
    return quote(name, safe=_NAME_SAFE, errors="surrogateescape")


def decode_name(encoded: str, *, strict: bool = True) -> str:
    """The name `encode_name` encoded. `strict`: bytes that are not UTF-8 are an error
    (Cloud Storage's names are UTF-8); otherwise they come back surrogate-escaped, as
    Python spells a local file's name."""
    return unquote(encoded, errors="strict" if strict else "surrogateescape")


class BlobNotFound(Exception):
    pass


class BlobExists(Exception):
    """A create-only write found an object already there."""


class BlobStore(Protocol):
    def write_bytes(
        self,
        uri: str,
        data: bytes,
        content_type: str = ...,
        *,
        create_only: bool = ...,
        retain_until: datetime | None = ...,
        metadata: Mapping[str, str] | None = ...,
    ) -> int:
        """Writes the object and returns its generation. `create_only` raises BlobExists
        instead of replacing an object that is already there."""
        ...

    def write_stream(
        self,
        uri: str,
        stream: IO[bytes],
        content_type: str = ...,
        *,
        create_only: bool = ...,
        metadata: Mapping[str, str] | None = ...,
    ) -> int:
        """`write_bytes` from a stream read in chunks, for objects too big to hold."""
        ...

    def read_bytes(self, uri: str) -> bytes: ...

    def open_read(self, uri: str) -> AbstractContextManager[BinaryIO]:
        """The object as a stream, read in chunks (large objects are never whole in memory)."""
        ...

    def copy(
        self,
        source_uri: str,
        target_uri: str,
        *,
        create_only: bool = ...,
        retain_until: datetime | None = ...,
    ) -> None:
        """Copies inside the store (server-side on Cloud Storage, any size)."""
        ...

    def delete(self, uri: str) -> None:
        """Deletes the object; one that is already gone is not an error."""
        ...

    def delete_prefix(self, prefix_uri: str) -> int:
        """Deletes every object under the prefix, page by page; returns how many."""
        ...


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0] if "://" in uri else ""


def open_store(uri: str) -> BlobStore:
    """The store that serves `uri`: one per scheme and process, so its client is reused."""
    return _store(scheme_of(uri))


def _build(scheme: str) -> BlobStore:
    if scheme == "file":
        from shared.adapters.storage.local import LocalBlobStore

        return LocalBlobStore()
    if scheme == "gs":
        from shared.adapters.storage.gcs import GcsBlobStore

        return GcsBlobStore()
    raise ValueError(f"no blob store for {scheme!r} URIs: expected file:// or gs://")


class _Stores:
    """One store per scheme and process, built once under a lock (shared/platform/once.py): the
    api serves concurrent requests, and lru_cache would let two first ones each build a
    client (a second connection pool, credentials fetched twice)."""

    def __init__(self) -> None:
        self._stores = {scheme: once(partial(_build, scheme)) for scheme in ("file", "gs")}

    def __call__(self, scheme: str) -> BlobStore:
        store = self._stores.get(scheme)
        return store() if store is not None else _build(scheme)  # unknown: raises

    def cache_clear(self) -> None:
        for store in self._stores.values():
            store.cache_clear()


_store = _Stores()
