"""What a Dockerfile puts in its image, read from its COPY instructions: enough to lay
the image's files out in a folder and run them, on a machine with no Docker."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str


def instructions(dockerfile: Path) -> tuple[str, list[Copy]]:
    """The final WORKDIR and every COPY, in order (continuation lines joined)."""
    joined = dockerfile.read_text().replace("\\\n", " ")
    workdir, copies = "/", []
    for line in joined.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].upper() == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / words[1])
        elif words[0].upper() == "COPY":
            args = [w for w in words[1:] if not w.startswith("--")]
            # PurePosixPath drops a trailing "/", which is what makes the destination a folder.
            slash = "/" if args[-1].endswith("/") else ""
            copies.append(Copy(tuple(args[:-1]), str(PurePosixPath(workdir) / args[-1]) + slash))
    return workdir, copies


def lay_out(dockerfile: Path, context: Path, root: Path) -> Path:
    """Copies what the COPY instructions copy from `context` into `root` (the image's
    `/`); returns the image's WORKDIR inside `root`."""
    workdir, copies = instructions(dockerfile)
    for copy in copies:
        into_folder = copy.destination.endswith("/") or len(copy.sources) > 1
        target = root / copy.destination.lstrip("/")
        for source in copy.sources:
            origin = context / source
            if origin.is_dir():
                shutil.copytree(
                    origin, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                place = target / origin.name if into_folder else target
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, place)
    return root / workdir.lstrip("/")
