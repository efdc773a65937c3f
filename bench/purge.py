"""A purge pass over 1,000 expired submissions (each with its stored file and one run
whose bundle holds an object), against raw deletes of the same objects and raw batched
writes clearing the same documents, through the same clients in the same run."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.figures import Figure

COUNT = 1000
ROUNDS = 3
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _records(org: str, i: int, submission_id: str, run_id: str, file_uri: str) -> tuple[Any, Any]:
    """The i-th expired submission and its finished run; each expires a minute before the
    previous one, so the sweep sees them in a fixed order."""
    from shared.domain.enums import RetentionPolicy, RunStatus
    from shared.domain.models import Submission, ValidationRun

    submission = Submission(
        id=submission_id,
        org_id=org,
        workflow_id="w",
        workflow_slug="bench",
        workflow_version=1,
        input_file=file_uri,
        original_filename=f"{i}.json",
        content_type="application/json",
        file_type="json",
        size_bytes=8,
        checksum_sha256="0" * 64,
        retention_policy=RetentionPolicy.STORE_1_DAY,
        expires_at=NOW - timedelta(minutes=i + 1),
        latest_run_id=run_id,
        run_ids=[run_id],
        created_at=NOW - timedelta(days=1),
    )
    run = ValidationRun(
        id=run_id,
        org_id=org,
        submission_id=submission_id,
        workflow_id="w",
        workflow_slug="bench",
        workflow_version=1,
        status=RunStatus.SUCCEEDED,
        created_at=NOW - timedelta(days=1),
        config=[],
        steps=[],
    )
    return submission, run


def _seed(repos: Any, store: Any, settings: Any, org: str) -> list[tuple[Any, Any]]:
    from shared.adapters.storage.layout import Layout
    from shared.persistence.firestore.documents import BATCH_LIMIT, to_doc
    from shared.platform.ids import new_id

    layout = Layout(settings.storage_uri)
    made, batch, pending = [], repos.db.batch(), 0
    for i in range(COUNT):
        submission_id, run_id = new_id(), new_id()
        file_uri = layout.submission_file(org, submission_id, f"{i}.json")
        store.write_bytes(file_uri, b'{"n": 1}')
        store.write_bytes(layout.input_envelope(org, run_id, 0, 1), b"{}")
        submission, run = _records(org, i, submission_id, run_id, file_uri)
        batch.set(repos.document("submissions", submission_id), to_doc(submission))
        batch.set(repos.document("runs", run_id), to_doc(run))
        pending += 2
        if pending >= BATCH_LIMIT:
            batch.commit()
            batch, pending = repos.db.batch(), 0
        made.append((submission, run))
    if pending:
        batch.commit()
    return made


def _raw(repos: Any, store: Any, settings: Any, made: list[tuple[Any, Any]]) -> float:
    from shared.adapters.storage.layout import Layout
    from shared.persistence.firestore.documents import BATCH_LIMIT

    layout = Layout(settings.storage_uri)
    started = time.perf_counter()
    batch, pending = repos.db.batch(), 0
    for submission, run in made:
        store.delete(submission.input_file)
        store.delete_prefix(layout.run_prefix(run.org_id, run.id))
        batch.update(
            repos.document("submissions", submission.id),
            {"content": "", "input_file": None, "content_purged_at": NOW, "expires_at": None},
        )
        batch.update(repos.document("runs", run.id), {"output_purged_at": NOW})
        pending += 2
        if pending >= BATCH_LIMIT:
            batch.commit()
            batch, pending = repos.db.batch(), 0
    if pending:
        batch.commit()
    return time.perf_counter() - started


def _swept(repos: Any, store: Any, settings: Any) -> float:
    from shared.services import purge

    started = time.perf_counter()
    report = purge.purge_expired(
        repos, store, settings, deadline=time.monotonic() + 3600, max_batches=100, now=lambda: NOW
    )
    swept = time.perf_counter() - started
    assert (report.purged, report.failed, report.stopped_early) == (COUNT, 0, False), report
    return swept


def _forget(repos: Any, made: list[tuple[Any, Any]]) -> None:
    """Deletes a round's records, so every round starts from the same database (the
    emulator's queries slow down as a collection grows)."""
    from shared.persistence.firestore.documents import BATCH_LIMIT

    refs = [
        ref
        for s, r in made
        for ref in (
            repos.document("submissions", s.id),
            repos.document("runs", r.id),
        )
    ]
    for start in range(0, len(refs), BATCH_LIMIT):
        batch = repos.db.batch()
        for ref in refs[start : start + BATCH_LIMIT]:
            batch.delete(ref)
        batch.commit()


def measure(rounds: int = ROUNDS) -> list[Figure]:
    """Raw and sweep alternate, round after round, and each keeps its fastest: both are
    only ever slowed by noise, so the fastest is the closest to their cost."""
    from shared import wiring
    from shared.domain.models import Organization
    from shared.platform.config import get_settings
    from shared.platform.ids import new_id

    repos, store, settings = wiring.repositories(), wiring.blob_store(), get_settings()
    org = Organization(id=new_id(), name="purge-bench", created_at=NOW)
    repos.orgs.create(org)
    raws, sweeps = [], []
    for _ in range(rounds):
        made = _seed(repos, store, settings, org.id)
        raws.append(_raw(repos, store, settings, made))
        _forget(repos, made)
        made = _seed(repos, store, settings, org.id)
        sweeps.append(_swept(repos, store, settings))
        _forget(repos, made)
    return [
        Figure(
            f"purge of {COUNT:,} expired submissions / raw deletes and writes",
            min(sweeps),
            min(raws),
            1.5,
            note=f"sweep {min(sweeps):.2f} s, raw {min(raws):.2f} s (fastest of {rounds} each)",
        )
    ]
