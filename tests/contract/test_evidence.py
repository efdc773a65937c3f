"""`Evidence` and `UnitOfWork.record_evidence`: a run's manifest is created once, with
the end it describes, read back as written, and only by its own org."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import RunResult, RunStatus, StepStatus
from shared.domain.evidence import (
    EngineEvidence,
    InputEvidence,
    Manifest,
    StepEvidence,
    WorkflowEvidence,
    digest,
)
from shared.platform.errors import AlreadyExists
from shared.platform.ids import new_id
from tests.contract.builders import at

pytestmark = pytest.mark.contract


def manifest(org: str, run_id: str, result: RunResult = RunResult.PASS) -> Manifest:
    return Manifest(
        run_id=run_id,
        org_id=org,
        input=InputEvidence(sha256="a" * 64, size_bytes=12, content_type="application/json"),
        workflow=WorkflowEvidence(id="w", slug="people", version=2, config_sha256="b" * 64),
        steps=[
            StepEvidence(
                order=0,
                key="schema",
                validator="json-schema",
                validator_version="1.0.0",
                image="local/validator-json-schema@sha256:" + "c" * 64,
                engine=EngineEvidence(name="jsonschema-rs", version="0.61.2"),
                output_sha256="d" * 64,
                findings_sha256="e" * 64,
                status=StepStatus.PASSED,
                started_at=at(1),
                ended_at=at(1.0001),
            )
        ],
        status=RunStatus.SUCCEEDED,
        result=result,
        created_at=at(0),
        started_at=at(0.5),
        ended_at=at(2),
    )


def record(backend: Any, written: Manifest) -> None:
    backend.transact(lambda uow: uow.record_evidence(written))


def test_a_manifest_reads_back_as_written_by_its_own_org_only(backend: Any) -> None:
    run_id = new_id()
    written = manifest("org-a", run_id)
    record(backend, written)
    found = backend.evidence.find("org-a", run_id)
    assert found == written
    assert digest(found) == digest(written)
    assert backend.evidence.find("org-b", run_id) is None
    assert backend.evidence.find("org-a", new_id()) is None


def test_the_first_manifest_stands(backend: Any) -> None:
    run_id = new_id()
    first = manifest("org-a", run_id)
    record(backend, first)
    with pytest.raises(AlreadyExists):
        record(backend, manifest("org-a", run_id, RunResult.FAIL))
    assert backend.evidence.find("org-a", run_id) == first
