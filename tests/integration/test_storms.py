"""At-least-once storms with real concurrency (threads against the Firestore emulator,
the Cloud Tasks stand-in and the Cloud Run Jobs stand-in's processes): whatever is
delivered many times at once takes effect once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.job_runner import JobRunner
from shared import wiring
from shared.contract.envelopes import OutputStatus
from shared.platform.config import get_settings
from shared.platform.errors import Conflict, Transient
from shared.services import callbacks
from tests.integration.test_flows import callback, claimed, new_run, write_output
from tests.integration.test_reconcile import do_launch


def deliver(body: Any) -> str:
    try:
        outcome = callback(body)
    except Transient:
        return "busy"  # 503: the validator's retry gets the replay
    if outcome.late:
        return "late"  # must not happen: the run ended by this very callback
    return "replay" if outcome.replay else "processed"


@pytest.mark.firestore
def test_fifty_runs_each_called_back_ten_times_at_once(flow: Any) -> None:
    repos, org = flow
    bodies = []
    for i in range(50):
        run = new_run(repos, org) if i == 0 else _another_run(repos, org)
        status = OutputStatus.FAILED_VALIDATION if i % 7 else OutputStatus.SUCCESS
        bodies.append((run, write_output(run, claimed(repos, run), status, findings=i % 7)))
    deliveries = [body for _, body in bodies for _ in range(10)]
    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(deliver, deliveries))
    assert outcomes.count("processed") == 50
    assert set(outcomes) <= {"processed", "replay", "busy"}
    for index, (run, _) in enumerate(bodies):
        stored = repos.runs.get(org, run.id)
        expected = index % 7
        assert repos.findings.count(run.id) == expected
        assert stored.status == ("FAILED" if expected else "SUCCEEDED")
        assert stored.summary.error_count == expected
    receipts = list(repos.db.collection("callback_receipts").stream())
    assert len(receipts) == 50 and {r.get("state") for r in receipts} == {"DONE"}


def _another_run(repos: Any, org: str) -> Any:
    from shared.api.auth.api_keys import issue_key
    from shared.services.submissions import IncomingFile, submit

    record, _ = issue_key(repos, org, "k")
    return submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=record,
        slug="people",
        incoming=IncomingFile(b'{"name": "x"}', "p.json", "application/json"),
    ).run


@pytest.fixture
def hanging_jobs(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[JobRunner]:
    runner = JobRunner(
        tmp_path / "job-logs",
        job_prefix="validator-",
        module_prefix="tests.jobs.",
        env={"FAKE_JOB": "hang"},
    )
    monkeypatch.setenv("ASSAY_JOBS_ENDPOINT", serve(runner).url)
    wiring.reset()
    yield runner
    runner.stop_all()


def test_each_launch_task_delivered_three_times_at_once_starts_one_execution(
    flow: Any, hanging_jobs: JobRunner
) -> None:
    repos, org = flow
    runs = [new_run(repos, org)] + [_another_run(repos, org) for _ in range(9)]

    def launch_once(run_id: str) -> str:
        """One delivery, retried as Cloud Tasks retries a 409 or 503 answer."""
        for _ in range(50):
            try:
                return str(do_launch(run_id).outcome)
            except (Conflict, Transient):
                time.sleep(0.2)
        return "gave up"

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(launch_once, [r.id for r in runs for _ in range(3)]))
    assert outcomes.count("launched") == 10
    assert set(outcomes) == {"launched", "already launched"}
    assert len(hanging_jobs.executions) == 10
    for run in runs:
        step = repos.runs.get(org, run.id).steps[0]
        assert step.status == "RUNNING" and step.attempt == 1
        assert step.execution_name in hanging_jobs.executions
    # Redelivered later, each finds its step launched and does nothing.
    assert {do_launch(r.id).outcome for r in runs} == {"already launched"}
    assert len(hanging_jobs.executions) == 10


def test_a_callback_that_dies_half_way_is_finished_once_by_its_redelivery(flow: Any) -> None:
    repos, org = flow
    run = new_run(repos, org)
    step = claimed(repos, run)
    body = write_output(run, step, findings=7)
    output = callbacks._read_output(wiring.blob_store(), body, run, step)
    # The first delivery takes the receipt and writes 3 of its 7 findings, then dies.
    callbacks._acquire(repos, get_settings(), body, run, step, lambda: datetime.now(UTC))
    partial = output.model_copy(update={"findings": output.findings[:3]})
    callbacks.write_results(repos, run, step, partial, lambda: datetime.now(UTC))
    assert repos.findings.count(run.id) == 3

    # A redelivery while its lease runs is told to come back (503 + Retry-After).
    with pytest.raises(Transient):
        callback(body)
    # After the lease, the redelivery takes over and finishes: all 7, once.
    later = datetime.now(UTC) + callbacks.RECEIPT_LEASE + timedelta(seconds=1)
    outcome = callbacks.handle_callback(
        repos, wiring.blob_store(), wiring.task_queue(), get_settings(), body, lambda: later
    )
    assert outcome.replay is False
    assert repos.findings.count(run.id) == 7
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.summary.error_count) == ("FAILED", 7)
    assert callback(body).replay is True and repos.findings.count(run.id) == 7


@pytest.mark.firestore  # stands in for the Firestore read path's stale snapshot
def test_a_duplicate_that_read_the_receipt_before_the_first_finished_is_a_replay(
    flow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the storm above can hit: B reads no receipt, A finalizes the run,
    B reads the run (ended). B must answer as a replay and leave A's findings alone."""
    repos, org = flow
    run = new_run(repos, org)
    body = write_output(run, claimed(repos, run), findings=4)
    assert callback(body).replay is False  # A
    real = repos.receipts.find
    calls = []

    def stale_first_read(callback_id: str, transaction: Any = None) -> Any:
        calls.append(callback_id)
        return None if len(calls) == 1 else real(callback_id, transaction=transaction)

    monkeypatch.setattr(repos.receipts, "find", stale_first_read)
    outcome = callbacks.handle_callback(
        repos, wiring.blob_store(), wiring.task_queue(), get_settings(), body
    )
    assert (outcome.replay, outcome.late) == (True, False)
    assert repos.findings.count(run.id) == 4
