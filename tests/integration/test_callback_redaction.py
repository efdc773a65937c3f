"""The callback trusts no output.json under DO_NOT_STORE (decision record 0027): it
rebuilds the output by the rule the job's parent applied (validators/redaction.py), so a
hand-written output.json (a sandbox escape, a parsing bug) that quotes a secret in a
finding's code, message and path, a metric's name and text, an artifact's name, uri and
checksum, the error and the validator's version stores none of it in Firestore. The same
output for a run that stores its files is kept as written: the attack is real. Against
the Firestore emulator and file storage, through the callback service."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.api.auth.api_keys import issue_key
from shared.contract.envelopes import (
    CallbackBody,
    OutputArtifact,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.domain.enums import RunStatus, Severity
from shared.domain.models import ValidationRun
from shared.domain.task_bodies import LaunchTask
from shared.platform.config import get_settings
from shared.services import workflows
from shared.services.callbacks import CallbackOutcome, handle_callback
from shared.services.launches import _claim
from shared.services.submissions import IncomingFile, submit
from tests.factories import every_document, workflow_body

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "SECRET-7F3A19C2B0"
# A line number that spells "SEC": the file is a few hundred bytes, so it has no such line.
SPELLED = 0x534543
STEP = {
    "name": "Simulate",
    "validator": "fmu",
    "config": {"stop_time": 1, "step_size": 0.5, "outputs": ["level"]},
}


def _fmu() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("modelDescription.xml", '<fmiModelDescription fmiVersion="2.0"/>')
    return buffer.getvalue()


def _run(repos: Any, org: str, retention: str) -> ValidationRun:
    body = workflow_body(slug="sim", retention={"submission": retention, "output": "STORE_1_DAY"})
    body["steps"] = [STEP]
    workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    record, _ = issue_key(repos, org, "k")
    return submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=record,
        slug="sim",
        incoming=IncomingFile(_fmu(), "model.fmu", "application/zip"),
    ).run


def claimed(repos: Any, run: ValidationRun) -> Any:
    """The step's first attempt, claimed as a launch claims it."""
    task = LaunchTask(run_id=run.id, step_order=0, attempt=1)
    claim = _claim(repos, get_settings(), task, lambda: datetime.now(UTC))
    assert not isinstance(claim, str), claim
    return claim.step


def callback(body: CallbackBody) -> CallbackOutcome:
    return handle_callback(
        wiring.repositories(), wiring.blob_store(), wiring.task_queue(), get_settings(), body
    )


def _folder(run: ValidationRun, attempt: int) -> str:
    layout = Layout(get_settings().storage_uri)
    return layout.attempt_prefix(run.org_id, run.id, 0, attempt).rstrip("/")


def _write(run: ValidationRun, step: Any, document: bytes) -> CallbackBody:
    uri = _folder(run, step.attempt) + "/output.json"
    wiring.blob_store().write_bytes(uri, document)
    status = OutputStatus.FAILED_VALIDATION
    return CallbackBody(run_id=run.id, callback_id=step.callback_id, status=status, result_uri=uri)


def _hostile(run: ValidationRun, step: Any) -> CallbackBody:
    """output.json as a hostile writer leaves it: the secret in every field it can."""
    folder = _folder(run, step.attempt)
    said = OutputFinding(
        severity=Severity.ERROR,
        code=f"fmu.{SECRET}",
        message=f"variable {SECRET} has start value {SECRET}",
        path=f"/{SECRET}/level",
        line=SPELLED,
        column=3,
    )
    placed = OutputFinding(
        severity=Severity.WARNING, code="fmu.simulation_failed", message=SECRET, line=1, column=2
    )
    output = OutputEnvelope(
        run_id=run.id,
        org_id=run.org_id,
        step_order=0,
        attempt=step.attempt,
        callback_id=step.callback_id,
        status=OutputStatus.FAILED_VALIDATION,
        findings=[said, placed],
        metrics={SECRET: 1.0, "level_final": 2.0, "level_min": SECRET},
        artifacts=[
            OutputArtifact(name=SECRET, uri=f"{folder}/{SECRET}"),
            OutputArtifact(name="result.csv", uri=f"{folder}/{SECRET}/result.csv"),
            OutputArtifact(name="result.csv", uri=f"{folder}/result.csv", sha256=SECRET),
        ],
        timing=Timing(started_at=NOW, ended_at=NOW, duration_ms=1),
        validator=ValidatorRef(name="fmu", version=SECRET),
        error=SECRET,
    )
    return _write(run, step, output.model_dump_json().encode())


def _hits(repos: Any, needle: str) -> list[str]:
    return [
        s.reference.path
        for s in every_document(repos.db)
        if needle.lower() in json.dumps(s.to_dict(), default=str).lower()
    ]


@pytest.mark.firestore
def test_a_hand_written_output_stores_nothing_it_quotes(flow: Any) -> None:
    repos, org = flow
    run = _run(repos, org, "DO_NOT_STORE")
    step = claimed(repos, run)
    callback(_hostile(run, step))
    stored = repos.runs.get(org, run.id)
    assert stored.status is RunStatus.FAILED
    assert _hits(repos, SECRET) == []
    assert _hits(repos, str(SPELLED)) == []
    findings = repos.findings.page(org, run.id, limit=10).items
    assert [(f.code, f.path, f.line, f.column) for f in findings] == [
        ("finding.withheld", "/*/level", None, None),
        ("fmu.simulation_failed", None, 1, 2),
    ]
    assert stored.steps[0].metrics == {"level_final": 2.0, "level_min": None}
    assert stored.steps[0].validator_version == "withheld"
    artifacts = [
        s.to_dict() for s in repos.document("runs", run.id).collection("artifacts").stream()
    ]
    assert [(a["name"], a["uri"], a["sha256"]) for a in artifacts] == [
        ("result.csv", _folder(run, step.attempt) + "/result.csv", None)
    ]


@pytest.mark.firestore
def test_the_same_output_is_kept_as_written_when_the_file_is_stored(flow: Any) -> None:
    repos, org = flow
    run = _run(repos, org, "STORE_7_DAYS")
    step = claimed(repos, run)
    callback(_hostile(run, step))
    assert _hits(repos, SECRET)  # the finding, the metric, the artifact: as written


@pytest.mark.firestore
def test_an_unusable_output_is_refused_without_quoting_it(flow: Any) -> None:
    """pydantic names a bad metric by its key; under DO_NOT_STORE the step's error is
    the sentence of its class instead."""
    repos, org = flow
    run = _run(repos, org, "DO_NOT_STORE")
    step = claimed(repos, run)
    document = {
        "run_id": run.id,
        "org_id": run.org_id,
        "step_order": 0,
        "attempt": step.attempt,
        "callback_id": step.callback_id,
        "status": "success",
        "metrics": {SECRET: [1]},
        "timing": {"started_at": NOW.isoformat(), "ended_at": NOW.isoformat(), "duration_ms": 1},
        "validator": {"name": "fmu", "version": "dev"},
    }
    callback(_write(run, step, json.dumps(document).encode()))
    stored = repos.runs.get(org, run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.steps[0].error == "the check's answer is malformed"
    assert _hits(repos, SECRET) == []
