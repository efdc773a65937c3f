"""The upload-inputs migration (`assay admin migrate upload-inputs`, docs/deploy.md).
Before the upload trigger copied accepted objects into the content location, it
recorded the uploads object itself as the submission's `input_file`. The uploads
bucket's age rule (2 days) would delete those objects, STORE_PERMANENTLY ones included,
and a re-run would find no input. Each is copied where the trigger now puts it (keyed
by its object generation, its retention as customTime), and the submission is pointed
at the copy on condition it did not change meanwhile: a purge that cleared it wins, and
the copy goes. Run again, it finds nothing left to do.

The originals stay for the age rule to take: a launch that read the old URI may still
be copying it.

A URI recorded before object names were percent-encoded holds the name as it was: a
`%41` in it is those three characters, not `A`, and a `#` before the generation's is
the name's. Each is tried as encoded first, then literally; the copy's URI is encoded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum

from shared.adapters.storage import BlobExists, BlobNotFound, BlobStore, decode_name
from shared.adapters.storage.layout import Layout, UploadsLayout
from shared.persistence.ports import Repositories, StoredInput
from shared.platform.config import Settings

PAGE = 100
ATTEMPTS = 5


class Migrated(StrEnum):
    MOVED = "moved"
    # Purged (or pointed elsewhere) while it was copied: nobody reads the copy, deleted.
    PURGED = "purged"
    # No object under the recorded URI: nothing left to copy.
    MISSING = "missing"


@dataclass
class MigrationReport:
    found: int = 0
    moved: int = 0
    purged: int = 0
    missing: list[str] = field(default_factory=list)  # submission ids

    def count(self, submission_id: str, outcome: Migrated) -> None:
        self.found += 1
        if outcome is Migrated.MOVED:
            self.moved += 1
        elif outcome is Migrated.PURGED:
            self.purged += 1
        else:
            self.missing.append(submission_id)


def migrate_upload_inputs(
    repos: Repositories, store: BlobStore, settings: Settings, page: int = PAGE
) -> MigrationReport:
    report = MigrationReport()
    after = None
    while True:
        found, after = repos.upload_inputs.under(settings.uploads_uri, page, after)
        for read in found:
            report.count(read.submission.id, _migrate(repos, store, settings, read))
        if len(found) < page:
            return report


def _migrate(
    repos: Repositories, store: BlobStore, settings: Settings, read: StoredInput
) -> Migrated:
    recorded = read.submission.input_file
    copy = _copy(repos, store, settings, read)
    if copy is None:
        return Migrated.MISSING
    for _ in range(ATTEMPTS):
        if repos.upload_inputs.repoint(read, copy):
            return Migrated.MOVED
        fresh = repos.upload_inputs.find(read.submission.id)
        if fresh is not None and fresh.submission.input_file == copy:
            return Migrated.MOVED  # a concurrent run of this command moved it
        if fresh is None or fresh.submission.input_file != recorded:
            store.delete(copy)
            return Migrated.PURGED
        read = fresh  # changed otherwise (a re-run): point it on the new version
    raise RuntimeError(f"submission {read.submission.id} kept changing ({ATTEMPTS} attempts)")


def _copy(
    repos: Repositories, store: BlobStore, settings: Settings, read: StoredInput
) -> str | None:
    """Copies the object the submission's input names; its copy's URI (None: there is
    no such object, nor a copy an earlier run made)."""
    uploads = UploadsLayout(settings.uploads_uri)
    submission = read.submission
    assert submission.input_file is not None
    for name, generation in legacy_names(uploads.root, submission.input_file):
        event_id = repos.uploads.event_id(uploads.bucket, name, generation or 0)
        copy = Layout(settings.storage_uri).claimed_upload(
            submission.org_id, event_id, submission.original_filename
        )
        source = uploads.object_uri(name, generation)
        try:
            store.copy(source, copy, create_only=True, retain_until=submission.retained_until)
        except BlobExists:
            return copy  # an earlier run copied it, and stopped before pointing at it
        except BlobNotFound:
            if _held(store, copy):
                return copy  # as above, and the original has gone since
            continue
        except ValueError:  # a name this store cannot hold (a folder takes no `..`)
            continue
        return copy
    return None


def legacy_names(root: str, uri: str) -> list[tuple[str, int | None]]:
    """The (name, generation) an input URI under `root` may stand for: as encoded, and
    as recorded before names were encoded (literally, the generation after the last
    `#`)."""
    rest = uri[len(root.rstrip("/")) + 1 :]
    names: list[tuple[str, int | None]] = []
    encoded, hashed, fragment = rest.partition("#")
    if not hashed or (fragment.isascii() and fragment.isdigit()):
        with contextlib.suppress(ValueError):  # not UTF-8 once decoded
            names.append((decode_name(encoded), int(fragment) if hashed else None))
    raw, hashed, fragment = rest.rpartition("#")
    pinned = hashed and fragment.isascii() and fragment.isdigit()
    literal = (raw, int(fragment)) if pinned else (rest, None)
    return names if literal in names else [*names, literal]


def _held(store: BlobStore, uri: str) -> bool:
    try:
        with store.open_read(uri) as stream:
            stream.read(1)
    except BlobNotFound:
        return False
    return True
