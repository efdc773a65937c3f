"""One blob-store interface; the implementation is chosen by the URI scheme."""

from __future__ import annotations

from typing import Protocol


class BlobNotFound(Exception):
    pass


class BlobStore(Protocol):
    def write_bytes(self, uri: str, data: bytes, content_type: str = ...) -> None: ...
    def read_bytes(self, uri: str) -> bytes: ...
    def delete(self, uri: str) -> None: ...
    def delete_prefix(self, prefix_uri: str) -> int: ...


def open_store(uri: str) -> BlobStore:
    """The store that serves `uri` (file:// now; gs:// is added with Cloud Storage)."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme == "file":
        from shared.storage.local import LocalBlobStore

        return LocalBlobStore()
    raise ValueError(f"no blob store for {uri!r}: expected a file:// URI")
