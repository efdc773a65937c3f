"""Where things live in storage, exactly as DESIGN's storage layout says."""

from __future__ import annotations

import posixpath
import re

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

    def is_inside(self, uri: str, prefix: str) -> bool:
        """True when `uri` names an object under `prefix` with no path tricks."""
        if not uri.startswith(prefix):
            return False
        rest = uri[len(prefix) :]
        parts = rest.split("/")
        return bool(rest) and all(p not in ("", ".", "..") for p in parts) and "%" not in rest
