"""The `file://` blob store: the same paths as the Cloud Storage bucket, on local disk.

Objects are written to a temporary file and then renamed into place (a reader never sees
half an object, as with Cloud Storage). A create-only write links the temporary file
into place, which fails if the name exists: the same all-or-nothing as
`ifGenerationMatch=0`. An object's generation is its modification time in nanoseconds.
Custom metadata, when given, lives in a hidden sidecar `.<name>.meta.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO
from urllib.parse import urlsplit

from shared.adapters.storage import BlobExists, BlobNotFound, decode_name

SIDECAR_SUFFIX = ".meta.json"
STREAM_CHUNK = 1024 * 1024


def path_of(uri: str) -> Path:
    """The file a `file://` URI names. Its path is percent-encoded (encode_name), so a
    raw `?` or `#` is never part of a name; `.` and `..` segments, which would climb out
    of the folder where Cloud Storage takes them literally, are refused."""
    parsed = urlsplit(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a file:// URI: {uri!r}")
    if parsed.query:
        raise ValueError(f"a file:// URI has no query: {uri!r}")
    path = decode_name(parsed.path, strict=False)
    if any(part in (".", "..") for part in path.split("/")) or "\0" in path:
        raise ValueError(f"{uri!r} does not name one object")
    return Path(path)


def _pinned_generation(uri: str) -> int | None:
    parsed = urlsplit(uri)
    if "#" not in uri:
        return None
    if not (parsed.fragment.isascii() and parsed.fragment.isdigit()):
        raise ValueError(f"a file:// URI's generation is a number: {uri!r}")
    return int(parsed.fragment)


def sidecar_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{SIDECAR_SUFFIX}")


def is_sidecar_or_temporary(path: Path) -> bool:
    return path.name.startswith(".")


@dataclass(frozen=True)
class LocalObject:
    """What Cloud Storage would say of an object: for the local upload notifier."""

    path: Path
    generation: int
    size: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


class LocalBlobStore:
    def write_bytes(
        self,
        uri: str,
        data: bytes,
        content_type: str = "",
        *,
        create_only: bool = False,
        retain_until: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        return self._write(uri, data, content_type, create_only, metadata)

    def write_stream(
        self,
        uri: str,
        stream: IO[bytes],
        content_type: str = "",
        *,
        create_only: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        return self._write(uri, stream, content_type, create_only, metadata)

    def _write(
        self,
        uri: str,
        data: bytes | IO[bytes],
        content_type: str,
        create_only: bool,
        metadata: Mapping[str, str] | None,
    ) -> int:
        target = path_of(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        if create_only and target.exists():
            raise BlobExists(target.as_uri())  # before the sidecar: it is not ours to replace
        if metadata is not None:
            sidecar = {"content_type": content_type, "metadata": dict(metadata)}
            self._place(sidecar_of(target), json.dumps(sidecar).encode(), create_only=False)
        return self._place(target, data, create_only=create_only)

    @staticmethod
    def _place(target: Path, data: bytes | IO[bytes], *, create_only: bool) -> int:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                if isinstance(data, bytes):
                    handle.write(data)
                else:
                    shutil.copyfileobj(data, handle, STREAM_CHUNK)
            if create_only:
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise BlobExists(target.as_uri()) from None
                Path(tmp).unlink()
            else:
                Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target.stat().st_mtime_ns

    def _existing(self, uri: str) -> Path:
        path = path_of(uri)
        pinned = _pinned_generation(uri)
        try:
            generation = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise BlobNotFound(uri) from None
        if pinned is not None and pinned != generation:
            raise BlobNotFound(f"{uri} (replaced by generation {generation})")
        return path

    def read_bytes(self, uri: str) -> bytes:
        try:
            return self._existing(uri).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(uri) from exc

    @contextlib.contextmanager
    def open_read(self, uri: str) -> Iterator[BinaryIO]:
        try:
            handle = self._existing(uri).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(uri) from exc
        with handle:
            yield handle

    def copy(
        self,
        source_uri: str,
        target_uri: str,
        *,
        create_only: bool = False,
        retain_until: datetime | None = None,
    ) -> None:
        source = self._existing(source_uri)
        target = path_of(target_uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            try:
                shutil.copyfile(source, tmp)
            except FileNotFoundError:
                # Deleted between the check and the copy (a concurrent delivery moved it).
                raise BlobNotFound(source_uri) from None
            if create_only:
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise BlobExists(target_uri) from None
            else:
                Path(tmp).replace(target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def delete(self, uri: str) -> None:
        path = path_of(uri)
        pinned = _pinned_generation(uri)
        with contextlib.suppress(FileNotFoundError):
            if pinned is not None and path.stat().st_mtime_ns != pinned:
                return  # a newer object took the name; it is not ours to delete
            path.unlink()
        sidecar_of(path).unlink(missing_ok=True)

    def delete_prefix(self, prefix_uri: str) -> int:
        root = path_of(prefix_uri)
        if not root.exists():
            return 0
        count = sum(1 for p in root.rglob("*") if p.is_file() and not is_sidecar_or_temporary(p))
        shutil.rmtree(root, ignore_errors=True)
        return count

    def describe(self, path: Path) -> LocalObject:
        """The object's generation, size, content type and custom metadata."""
        stat = path.stat()
        content_type, metadata = "", {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            sidecar = json.loads(sidecar_of(path).read_text())
            content_type, metadata = sidecar["content_type"], sidecar["metadata"]
        return LocalObject(path, stat.st_mtime_ns, stat.st_size, content_type, metadata)
