"""What the purge sweep reads of a submission and its runs: a few fields, not the whole
document. A sweep page of full records cost the client more to decode than the purge
cost to do (a run holds its config and steps), so the sweep reads projections, and
keeps the version it read as the precondition of its mark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.enums import RunStatus

SUBMISSION_FIELDS = ["org_id", "input_file", "run_ids", "purge_retry_since", "expires_at"]
RUN_FIELDS = ["org_id", "submission_id", "status", "output_purged_at"]
# A cursor after a run of the output sweep's page needs the field the page is ordered by.
OUTPUT_FIELDS = [*RUN_FIELDS, "output_expires_at"]


@dataclass(frozen=True)
class SubmissionToPurge:
    id: str
    org_id: str
    input_file: str | None
    run_ids: tuple[str, ...]
    handed_to_retry: bool
    version: datetime  # the update time it was read at

    @classmethod
    def of(cls, snap: Any) -> SubmissionToPurge:
        data = snap.to_dict() or {}
        return cls(
            id=snap.id,
            org_id=data["org_id"],
            input_file=data.get("input_file"),
            run_ids=tuple(data.get("run_ids") or ()),
            handed_to_retry=data.get("purge_retry_since") is not None,
            version=snap.update_time,
        )


@dataclass(frozen=True)
class RunToPurge:
    id: str
    org_id: str
    submission_id: str
    status: RunStatus
    output_purged: bool
    version: datetime

    @classmethod
    def of(cls, snap: Any) -> RunToPurge:
        data = snap.to_dict() or {}
        return cls(
            id=snap.id,
            org_id=data["org_id"],
            submission_id=data.get("submission_id") or "",
            status=RunStatus(data["status"]),
            output_purged=data.get("output_purged_at") is not None,
            version=snap.update_time,
        )
