"""A validator that reports 20,000 findings: every one is stored (in batches), the run's
summary counts them, and the callback body stays a few hundred bytes because findings
travel in output.json, never in the callback (Cloud Tasks and Cloud Run cap requests)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from shared import wiring
from shared.contract.envelopes import OutputEnvelope, OutputFinding, OutputStatus
from shared.domain.enums import Severity
from tests.integration.test_flows import callback, claimed, new_run, write_output


def test_twenty_thousand_warnings_are_all_stored(flow: Any) -> None:
    repos, org = flow
    run = new_run(repos, org)
    step = claimed(repos, run)
    body = write_output(run, step, status=OutputStatus.SUCCESS, findings=0)
    store = wiring.blob_store()
    output = OutputEnvelope.model_validate_json(store.read_bytes(body.result_uri))
    many = [
        OutputFinding(severity=Severity.WARNING, code="w", message=f"warning {i}")
        for i in range(20_000)
    ]
    Path(body.result_uri.removeprefix("file://")).unlink()
    store.write_bytes(
        body.result_uri, output.model_copy(update={"findings": many}).model_dump_json().encode()
    )

    assert len(body.model_dump_json()) < 500
    started = time.monotonic()
    assert callback(body).replay is False
    print(f"\ncallback with 20,000 findings: {time.monotonic() - started:.2f} s")
    assert repos.findings.count(run.id) == 20_000
    stored = repos.runs.get(org, run.id)
    assert (stored.result, stored.summary.warning_count, stored.summary.total) == (
        "PASS",
        20_000,
        20_000,
    )
