"""One input file's content as a validator gets it.

A validator job streams each input from storage to its working folder in chunks,
checking the checksum on the way, so a file of gigabytes is never whole in Python's
memory; engines that read files (EnergyPlus, FMI, lxml) are given the file itself, and a
scan for a marker maps it rather than reading it. The api's fast path holds the bytes it
was sent (under DO_NOT_STORE they must not reach a disk), so a payload may be either.
JSON Schema is the one check that needs the whole document: it reads it (`read`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mmap
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.adapters.storage import signed
from shared.adapters.storage.layout import safe_filename
from shared.contract.envelopes import InputFile

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Payload:
    path: Path | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise ValueError("a payload is a file or bytes, exactly one of them")

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self._path.stat().st_size

    @property
    def _path(self) -> Path:
        assert self.path is not None
        return self.path

    def read(self) -> bytes:
        return self.data if self.data is not None else self._path.read_bytes()

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self.data is not None:
            yield io.BytesIO(self.data)
            return
        with self._path.open("rb") as handle:
            yield handle

    @contextlib.contextmanager
    def view(self) -> Iterator[bytes | mmap.mmap]:
        """The content to search (`find`, `in`, slices) without reading a file into memory."""
        if self.data is not None:
            yield self.data
            return
        if self.size == 0:
            yield b""
            return
        with (
            self._path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view,
        ):
            yield view

    def place(self, target: Path) -> Path:
        """The content as the file `target` (an engine's own folder): a hard link to the
        streamed file where possible, so nothing is copied."""
        if self.data is not None:
            target.write_bytes(self.data)
            return target
        try:
            os.link(self._path, target)
        except OSError:
            shutil.copyfile(self._path, target)
        return target


def stream_to(item: InputFile, folder: Path) -> Payload:
    """Streams `item` into `folder` (through its signed URL when it has one), checking its
    checksum as it goes."""
    target = folder / f"{len(list(folder.iterdir()))}-{safe_filename(item.name)}"
    digest = hashlib.sha256()
    with signed.open_read(item.url or item.uri) as source, target.open("wb") as sink:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            sink.write(chunk)
    if digest.hexdigest() != item.sha256:
        target.unlink()
        raise ValueError(f"{item.name}: checksum does not match the envelope")
    return Payload(path=target)
