"""A finished run's evidence manifest: what a third party needs to check that this file
passed that workflow version on that engine at that time, with hashes and never content.

Built once when the run ends (shared/services/finalize.py) and kept for as long as the
run record, through every purge. Its canonical form is RFC 8785 (JSON Canonicalization
Scheme) over the manifest's JSON: keys sorted, no whitespace, numbers and strings in one
spelling, so `sha256(canonical(manifest))` is the same for anyone who parses and
re-serializes it. A credential signs that digest (shared/services/credentials.py).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.enums import RunResult, RunStatus, StepStatus
from shared.domain.models import EngineEvidence  # a step run's, repeated per step

MANIFEST_SCHEMA_VERSION: Final = "assay.evidence/1"


class _Frozen(BaseModel):
    # Built on first use, not at import (as shared/domain/models.py's are).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class InputEvidence(_Frozen):
    """The submitted file, by its hash (its content is never in the manifest)."""

    sha256: str
    size_bytes: int
    content_type: str


class WorkflowEvidence(_Frozen):
    id: str
    slug: str
    version: int
    # sha256 of the canonical form of the steps the run ran (its config snapshot).
    config_sha256: str


class StepEvidence(_Frozen):
    order: int
    key: str
    validator: str
    validator_version: str | None
    # The job's container image as Cloud Run ran it (a digest); on the local stack the
    # job runner's digest of the job's folder; None for a step run inline or never run.
    image: str | None
    engine: EngineEvidence | None
    # sha256 of the output.json the step's result was read from (None: inline or none).
    output_sha256: str | None
    # sha256 of the canonical form of the step's findings as stored.
    findings_sha256: str | None
    status: StepStatus
    started_at: datetime | None
    ended_at: datetime | None


class Manifest(_Frozen):
    schema_version: Literal["assay.evidence/1"] = MANIFEST_SCHEMA_VERSION
    run_id: str
    org_id: str
    input: InputEvidence | None
    workflow: WorkflowEvidence
    steps: list[StepEvidence]
    status: RunStatus
    result: RunResult
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes of `value` (a model is taken as its JSON)."""
    import rfc8785

    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return rfc8785.dumps(data)


def digest(value: Any) -> str:
    """Hex sha256 of the canonical form of `value`."""
    return hashlib.sha256(canonical(value)).hexdigest()


# What a finding's canonical form holds: what the validator said and where, as stored
# (text cut to the stored length); not its id, attempt or time of writing, which are
# bookkeeping a retried delivery may change.
FINDING_FIELDS: Final = ("severity", "code", "message", "path", "line", "column", "rule")


def findings_sha256(findings: list[dict[str, Any]]) -> str:
    """The digest of a step's findings as stored: the RFC 8785 form of the JSON array of
    each finding's FINDING_FIELDS (nulls included), in their stored order (`index`)."""
    return digest([{name: f.get(name) for name in FINDING_FIELDS} for f in findings])
