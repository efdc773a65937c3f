"""A finished run's evidence manifest (shared/domain/evidence.py): built from the run as
it ends, in the transaction that ends it (`finalize.end_run`), and served as stored.

Everything in it was recorded on the run where it became known (decision record 0085):
the input's facts when the run was created, each step's image at its launch, its
engine, output and findings digests when its result was committed. So ending a run
reads nothing more, and the manifest holds hashes and never content.
"""

from __future__ import annotations

from typing import Any

from shared.domain.evidence import (
    InputEvidence,
    Manifest,
    StepEvidence,
    WorkflowEvidence,
    digest,
)
from shared.domain.models import StepRun, ValidationRun
from shared.persistence.ports import Repositories
from shared.platform.errors import Conflict, NotFound

# RFC 8785 writes numbers as IEEE doubles: an integer beyond ±2^53 has no exact form.
_EXACT = 2**53


def _exact(value: Any) -> Any:
    """A config's JSON with each integer RFC 8785 cannot hold exactly as its decimal
    string (a user's config may carry one), so every config has a digest."""
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT:
        return str(value)
    return value


# A pinned resource's storage location is Assay's business; its checksum is the evidence.
_VIEWED = {"resources": {"__all__": {"uri"}}}


def config_sha256(run: ValidationRun) -> str:
    """The digest of the run's config snapshot: the steps as the run ran them, as the
    API's run shows them (`config`; a resource by its checksum, not where it is kept)."""
    steps = [step.model_dump(mode="json", exclude=_VIEWED) for step in run.config]
    return digest(_exact(steps))


def _input(run: ValidationRun) -> InputEvidence | None:
    if run.input_sha256 is None or run.input_size_bytes is None:
        return None  # a run created before evidence was recorded
    return InputEvidence(
        sha256=run.input_sha256,
        size_bytes=run.input_size_bytes,
        content_type=run.input_content_type or "",
    )


def _step(step: StepRun) -> StepEvidence:
    return StepEvidence(
        order=step.order,
        key=step.key,
        validator=step.validator,
        validator_version=step.validator_version,
        image=step.image,
        engine=step.engine,
        output_sha256=step.output_sha256,
        findings_sha256=step.findings_sha256,
        status=step.status,
        started_at=step.started_at,
        ended_at=step.ended_at,
    )


def build(run: ValidationRun) -> Manifest:
    """The manifest of a run that has just ended (pure: reads nothing)."""
    return Manifest(
        run_id=run.id,
        org_id=run.org_id,
        input=_input(run),
        workflow=WorkflowEvidence(
            id=run.workflow_id,
            slug=run.workflow_slug,
            version=run.workflow_version,
            config_sha256=config_sha256(run),
        ),
        steps=[_step(step) for step in run.steps],
        status=run.status,
        result=run.result,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
    )


def manifest(repos: Repositories, org_id: str, run_id: str) -> Manifest:
    """The run's manifest as stored. NotFound for a missing run and another org's;
    Conflict for a run that has not ended (it has none yet)."""
    found = repos.evidence.find(org_id, run_id)
    if found is not None:
        return found
    run = repos.runs.get(org_id, run_id)  # NotFound, across orgs too
    if not run.terminal:
        raise Conflict(
            f"run {run_id!r} is {run.status.value}: its evidence is recorded when it ends"
        )
    raise NotFound(f"run {run_id!r} ended before evidence was recorded: it has none")
