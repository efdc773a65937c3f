"""Where things live in storage: the layout docs/architecture.md draws (section
"Storage"); deleting `runs/{org}/{run}/` removes every copy a run made."""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from shared.adapters.storage import decode_name, encode_name

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, default: str = "submission") -> str:
    """A file name that cannot climb out of its folder or carry odd characters."""
    base = posixpath.basename((name or "").replace("\\", "/")).strip()
    cleaned = _UNSAFE.sub("_", base).strip("._")
    return cleaned[:200] or default


class Layout:
    def __init__(self, root_uri: str) -> None:
        self.root = root_uri.rstrip("/")

    def submission_file(self, org_id: str, submission_id: str, filename: str) -> str:
        return f"{self.root}/submissions/{org_id}/{submission_id}/{safe_filename(filename)}"

    def claimed_upload(self, org_id: str, event_id: str, filename: str) -> str:
        """Where the upload trigger copies an upload it accepts (one object generation,
        `event_id`), beside the submissions the API stores."""
        return self.submission_file(org_id, f"upload-{event_id}", filename)

    def resource_file(self, org_id: str, slug: str, name: str, sha256: str) -> str:
        return f"{self.root}/resources/{org_id}/{slug}/{safe_filename(name)}/{sha256}"

    def bundle_resource(self, org_id: str, run_id: str, name: str) -> str:
        return self.run_prefix(org_id, run_id) + f"resources/{safe_filename(name)}"

    def run_prefix(self, org_id: str, run_id: str) -> str:
        return f"{self.root}/runs/{org_id}/{run_id}/"

    def bundle_file(self, org_id: str, run_id: str, filename: str) -> str:
        return self.run_prefix(org_id, run_id) + safe_filename(filename)

    def attempt_prefix(self, org_id: str, run_id: str, step_order: int, attempt: int) -> str:
        return self.run_prefix(org_id, run_id) + f"steps/{step_order}/{attempt}/"

    def input_envelope(self, org_id: str, run_id: str, step_order: int, attempt: int) -> str:
        return self.attempt_prefix(org_id, run_id, step_order, attempt) + "input.json"

    def output_envelope(self, org_id: str, run_id: str, step_order: int, attempt: int) -> str:
        return self.attempt_prefix(org_id, run_id, step_order, attempt) + "output.json"

    def bucket_and_name(self, uri: str) -> tuple[str, str]:
        """The bucket and object name a signed URL names for the object `uri`: a gs://
        bucket's own, or locally the folder's last component standing for the bucket."""
        if not uri.startswith(self.root + "/"):
            raise ValueError(f"{uri!r} is not under {self.root!r}")
        return self.root.rsplit("/", 1)[-1], decode_name(uri[len(self.root) + 1 :])

    def is_inside(self, uri: str, prefix: str) -> bool:
        """True when `uri` names an object under `prefix` with no path tricks."""
        if not uri.startswith(prefix):
            return False
        rest = uri[len(prefix) :]
        parts = rest.split("/")
        return bool(rest) and all(p not in ("", ".", "..") for p in parts) and "%" not in rest


class UploadsLayout:
    """The uploads location: objects named `{org}/{workflow slug}/{filename}`, or
    `{org}/{workflow slug}/{upload id}/{filename}` for a signed-URL upload.

    On Cloud Storage it is a bucket (`gs://assay-uploads`); locally a folder
    (`file:///…/uploads`), whose last component stands for the bucket's name.
    """

    def __init__(self, root_uri: str) -> None:
        self.root = root_uri.rstrip("/")

    @property
    def bucket(self) -> str:
        return self.root.rsplit("/", 1)[-1]

    def object_uri(self, name: str, generation: int | None = None) -> str:
        """The object's URI, pinned to `generation` when given (gsutil's `#` form). The
        name is percent-encoded: whatever it holds (`#`, `?`, `%`, a newline), the URI
        names this object and no other."""
        uri = f"{self.root}/{encode_name(name)}"
        return f"{uri}#{int(generation)}" if generation is not None else uri

    @staticmethod
    def object_name(org_id: str, slug: str, filename: str, upload_id: str | None = None) -> str:
        middle = f"{upload_id}/" if upload_id else ""
        return f"{org_id}/{slug}/{middle}{filename}"

    @staticmethod
    def parse(name: str) -> UploadName | None:
        """(org, workflow slug, filename, upload id or None), or None for any other
        shape of name."""
        parts = name.split("/")
        if len(parts) not in (3, 4) or any(not p or p in (".", "..") for p in parts):
            return None
        if parts[-1].startswith("."):
            return None  # hidden files: temporaries and sidecars, never uploads
        upload_id = parts[2] if len(parts) == 4 else None
        return UploadName(parts[0], parts[1], parts[-1], upload_id)


class UploadName(NamedTuple):
    org_id: str
    slug: str
    filename: str
    upload_id: str | None
