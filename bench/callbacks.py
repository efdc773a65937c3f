"""A callback that stores 10,000 findings, against a raw batched write of the same
10,000 documents through the same Firestore client in the same run (the floor: what
writing them costs at all). On the official emulator, in this process."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import Figure

COUNT = 10_000
ROUNDS = 3


def _run_with_claimed_step(repos: Any, settings: Any, org: str) -> tuple[Any, Any]:
    from shared.domain.task_bodies import LaunchTask
    from shared.platform.clock import utcnow
    from shared.platform.ids import new_id
    from shared.services import workflows
    from shared.services.launches import _claim
    from shared.services.submissions import Accepted, IncomingFile, Submitter, _commit, _records

    workflow, version = workflows.create_workflow(
        repos,
        org,
        workflows.WorkflowCreate(
            name="Bench",
            slug=f"bench-{time.monotonic_ns()}",
            execution="job",
            steps=[{"name": "s", "validator": "json-schema", "config": {"schema": {}}}],
        ),
    )
    incoming = IncomingFile(data=b"{}", filename="b.json", content_type="application/json")
    submission, run = _records(
        Submitter(org),
        Accepted(workflow, version, "json"),
        submission_id=new_id(),
        created_at=utcnow(),
        facts=incoming,
        size=2,
        checksum="0" * 64,
        input_file=None,
        settings=settings,
    )
    _commit(repos, submission, run, lambda *_: None)
    claim = _claim(repos, settings, LaunchTask(run_id=run.id, step_order=0, attempt=1), utcnow)
    assert not isinstance(claim, str), claim
    return claim.run, claim.step


def _raw(repos: Any, settings: Any, org: str) -> float:
    """The floor: the same documents, the same client, batched the same way."""
    from shared.domain.enums import Severity
    from shared.domain.models import Finding

    run, step = _run_with_claimed_step(repos, settings, org)
    now = datetime.now(UTC)
    rows = [
        Finding(
            id=f"f{i:019d}",
            org_id=org,
            run_id=run.id,
            step_order=0,
            step_key=step.key,
            attempt=1,
            index=i,
            severity=Severity.WARNING,
            code="w",
            message=f"warning {i}",
            created_at=now,
        )
        for i in range(COUNT)
    ]
    started = time.perf_counter()
    repos.findings.write(run.id, rows)
    return time.perf_counter() - started


def _callback(repos: Any, store: Any, settings: Any, org: str) -> float:
    from shared import wiring
    from shared.adapters.storage.layout import Layout
    from shared.contract.envelopes import (
        CallbackBody,
        OutputEnvelope,
        OutputFinding,
        OutputStatus,
        Timing,
        ValidatorRef,
    )
    from shared.domain.enums import Severity
    from shared.services.callbacks import handle_callback

    run, step = _run_with_claimed_step(repos, settings, org)
    now = datetime.now(UTC)
    uri = Layout(settings.storage_uri).output_envelope(org, run.id, 0, step.attempt)
    output = OutputEnvelope(
        run_id=run.id,
        org_id=org,
        step_order=0,
        attempt=step.attempt,
        callback_id=step.callback_id or "",
        status=OutputStatus.SUCCESS,
        findings=[
            OutputFinding(severity=Severity.WARNING, code="w", message=f"warning {i}")
            for i in range(COUNT)
        ],
        timing=Timing(started_at=now, ended_at=now, duration_ms=1),
        validator=ValidatorRef(name="json-schema", version="1"),
    )
    store.write_bytes(uri, output.model_dump_json().encode())
    body = CallbackBody(
        run_id=run.id, callback_id=step.callback_id or "", status="success", result_uri=uri
    )
    started = time.perf_counter()
    outcome = handle_callback(repos, store, wiring.task_queue(), settings, body)
    processed = time.perf_counter() - started
    assert outcome.replay is False and repos.findings.count(run.id) == COUNT
    Path(uri.removeprefix("file://")).unlink()
    return processed


def measure(rounds: int = ROUNDS) -> list[Figure]:
    """Raw and callback alternate, round after round, and each keeps its fastest: the
    emulator is slower at its first writes into a collection, so a single run of each,
    raw first, flattered the callback (0.73x in one run)."""
    from shared import wiring
    from shared.domain.models import Organization
    from shared.platform.config import get_settings
    from shared.platform.ids import new_id

    repos, settings, store = wiring.repositories(), get_settings(), wiring.blob_store()
    org = Organization(id=new_id(), name="bench", created_at=datetime.now(UTC))
    repos.orgs.create(org)
    raws, callbacks = [], []
    for _ in range(rounds):
        raws.append(_raw(repos, settings, org.id))
        callbacks.append(_callback(repos, store, settings, org.id))
    processed, raw = min(callbacks), min(raws)
    return [
        Figure(
            f"callback with {COUNT:,} findings / raw batched write",
            processed,
            raw,
            1.3,
            note=f"callback {processed:.2f} s, raw {raw:.2f} s (fastest of {rounds} each)",
        )
    ]
