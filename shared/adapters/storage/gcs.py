"""The `gs://` blob store over google-cloud-storage.

Create-only writes send `ifGenerationMatch=0`, so of two writers exactly one creates the
object. Copies use the rewrite API, which works across buckets and for any size. A
prefix is deleted page by page, each page in batches of 100 deletes. With
STORAGE_EMULATOR_HOST set, the client talks to that emulator with no credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import cached_property
from typing import IO, Any, BinaryIO

from shared.adapters.storage import BlobExists, BlobNotFound, decode_name, encode_name

LIST_PAGE_SIZE = 1000
# Cloud Storage's JSON API takes at most 100 calls in one batch request.
DELETE_BATCH_SIZE = 100
READ_CHUNK_BYTES = 8 * 1024 * 1024


def split_uri(uri: str) -> tuple[str, str, int | None]:
    """`gs://bucket/name#generation` as (bucket, name, generation or None). The name is
    percent-encoded (shared.adapters.storage.encode_name), so the first `#` is the generation's
    and anything after it that is not a generation is an error, never part of a name."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    rest, hashed, fragment = uri[len("gs://") :].partition("#")
    bucket, _, encoded = rest.partition("/")
    if not bucket:
        raise ValueError(f"a gs:// URI needs a bucket: {uri!r}")
    if hashed and not (fragment.isascii() and fragment.isdigit()):
        raise ValueError(f"a gs:// URI's generation is a number: {uri!r}")
    return bucket, decode_name(encoded), int(fragment) if hashed else None


def pinned_uri(bucket: str, name: str, generation: int | str) -> str:
    return f"gs://{bucket}/{encode_name(name)}#{int(generation)}"


class GcsBlobStore:
    @cached_property
    def client(self) -> Any:
        from google.cloud.storage import Client

        return Client()

    def _blob(self, uri: str) -> Any:
        bucket, name, generation = split_uri(uri)
        if not name:
            raise ValueError(f"a gs:// URI of an object needs a name: {uri!r}")
        return self.client.bucket(bucket).blob(name, generation=generation)

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
        blob = self._blob(uri)
        if retain_until is not None:
            blob.custom_time = retain_until
        return self._upload(
            blob, uri, blob.upload_from_string, data, content_type, create_only, metadata
        )

    def write_stream(
        self,
        uri: str,
        stream: IO[bytes],
        content_type: str = "",
        *,
        create_only: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        blob = self._blob(uri)
        blob.chunk_size = READ_CHUNK_BYTES  # a resumable upload, one chunk in memory
        return self._upload(
            blob, uri, blob.upload_from_file, stream, content_type, create_only, metadata
        )

    @staticmethod
    def _upload(
        blob: Any,
        uri: str,
        send: Callable[..., None],
        data: bytes | IO[bytes],
        content_type: str,
        create_only: bool,
        metadata: Mapping[str, str] | None,
    ) -> int:
        from google.api_core import exceptions

        if metadata:
            blob.metadata = dict(metadata)
        try:
            send(
                data,
                content_type=content_type or "application/octet-stream",
                if_generation_match=0 if create_only else None,
            )
        except exceptions.PreconditionFailed:
            raise BlobExists(uri) from None
        return int(blob.generation)

    def read_bytes(self, uri: str) -> bytes:
        from google.api_core import exceptions

        try:
            return bytes(self._blob(uri).download_as_bytes())
        except exceptions.NotFound:
            raise BlobNotFound(uri) from None

    @contextlib.contextmanager
    def open_read(self, uri: str) -> Iterator[BinaryIO]:
        from google.api_core import exceptions

        try:
            # The reader fetches lazily, so a missing object shows on the first read.
            with self._blob(uri).open("rb", chunk_size=READ_CHUNK_BYTES) as reader:
                yield reader
        except exceptions.NotFound:
            raise BlobNotFound(uri) from None

    def copy(
        self,
        source_uri: str,
        target_uri: str,
        *,
        create_only: bool = False,
        retain_until: datetime | None = None,
    ) -> None:
        from google.api_core import exceptions

        source, target = self._blob(source_uri), self._blob(target_uri)
        if retain_until is not None:
            target.custom_time = retain_until
        precondition = 0 if create_only else None
        try:
            token, _, _ = target.rewrite(source, if_generation_match=precondition)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token, if_generation_match=precondition)
        except exceptions.NotFound:
            raise BlobNotFound(source_uri) from None
        except exceptions.PreconditionFailed:
            raise BlobExists(target_uri) from None

    def delete(self, uri: str) -> None:
        from google.api_core import exceptions

        with contextlib.suppress(exceptions.NotFound):
            self._blob(uri).delete()

    def delete_prefix(self, prefix_uri: str) -> int:
        bucket, prefix, _ = split_uri(prefix_uri)
        if not prefix.endswith("/"):
            raise ValueError(f"a prefix to delete must end with '/': {prefix_uri!r}")
        deleted = 0
        pages = self.client.list_blobs(bucket, prefix=prefix, page_size=LIST_PAGE_SIZE).pages
        for page in pages:
            blobs = list(page)
            for start in range(0, len(blobs), DELETE_BATCH_SIZE):
                self._delete_batch(blobs[start : start + DELETE_BATCH_SIZE])
            deleted += len(blobs)
        return deleted

    def _delete_batch(self, blobs: list[Any]) -> None:
        from google.api_core import exceptions

        try:
            with self.client.batch():
                for blob in blobs:
                    blob.delete()
        except exceptions.NotFound:
            # A batch reports only its first failure. One object was already gone (a
            # concurrent purge); settle each, so any other failure still surfaces.
            for blob in blobs:
                with contextlib.suppress(exceptions.NotFound):
                    blob.delete()
