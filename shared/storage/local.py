"""The file:// blob store: the same paths as Cloud Storage, on the local disk."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from shared.storage import BlobNotFound


def path_of(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a file:// URI: {uri!r}")
    return Path(unquote(parsed.path))


class LocalBlobStore:
    def write_bytes(self, uri: str, data: bytes, content_type: str = "") -> None:
        target = path_of(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file (GCS objects are atomic too).
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_bytes(self, uri: str) -> bytes:
        try:
            return path_of(uri).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(uri) from exc

    def delete(self, uri: str) -> None:
        path_of(uri).unlink(missing_ok=True)

    def delete_prefix(self, prefix_uri: str) -> int:
        root = path_of(prefix_uri)
        if not root.exists():
            return 0
        count = sum(1 for p in root.rglob("*") if p.is_file())
        shutil.rmtree(root, ignore_errors=True)
        return count
