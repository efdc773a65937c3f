"""Step timeouts: declared per step and checked when the workflow is saved, carried to
Cloud Run as the execution's task timeout, enforced by the job-runner stand-in as Cloud
Run does, and by the validator runtime itself on a check stuck in C code."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.job_runner import JobRunner
from shared.adapters.jobs import CloudRunJobs
from shared.contract.envelopes import InputEnvelope, ValidatorRef
from shared.domain.enums import CloudRunJobStatus
from shared.platform.config import Settings
from tests.factories import workflow_body
from tests.integration.test_jobs_adapter import settle
from validators.json_schema.validator import validate
from validators.payload import Payload
from validators.runtime import TimedOut, own_deadline, validate_within

CATASTROPHIC = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}


@pytest.mark.parametrize("value", [0, -5, 3601, 100000])
def test_a_timeout_outside_one_second_to_an_hour_is_a_422_naming_the_step(
    api: Any, value: int
) -> None:
    body = workflow_body(steps=2)
    body["steps"][1]["timeout_seconds"] = value
    answer = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert answer.status_code == 422
    detail = answer.get_json()["detail"]
    assert (
        "steps[1] ('Schema 1')" in detail and "timeout_seconds" in detail and str(value) in detail
    )


def test_each_step_keeps_its_timeout_and_600_is_the_default(api: Any) -> None:
    body = workflow_body(steps=2)
    body["steps"][0]["timeout_seconds"] = 5
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=body).status_code == 201
    steps = api.get(f"/v1/orgs/{api.org}/workflows/people").get_json()["steps"]
    assert [s["timeout_seconds"] for s in steps] == [5, 600]


def test_the_stand_in_stops_an_execution_past_its_task_timeout(serve: Any, tmp_path: Any) -> None:
    server = serve(JobRunner(tmp_path / "logs", job_prefix="test-", module_prefix="tests.jobs."))
    jobs = CloudRunJobs(Settings(jobs_endpoint=server.url, project="p", region="r"))
    started = time.monotonic()
    execution = jobs.run("test-sleeper", {"SLEEP": "60"}, timeout_seconds=1)
    assert settle(jobs, execution.name, timeout=20) is CloudRunJobStatus.FAILED
    assert time.monotonic() - started < 15
    # Without an override, a short job is not cut short.
    quick = jobs.run("test-sleeper", {"SLEEP": "0.2"})
    assert settle(jobs, quick.name) is CloudRunJobStatus.SUCCEEDED


def _envelope(schema: dict[str, Any]) -> InputEnvelope:
    return InputEnvelope(
        run_id="r",
        org_id="o",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="json-schema", version="1"),
        config={"schema": schema},
        files=[],
        callback_url="http://127.0.0.1:9",
        callback_id="c",
        output_uri="file:///tmp/x",
        timeout_seconds=5,
    )


def test_the_runtime_kills_a_check_stuck_on_a_catastrophic_regex() -> None:
    from shared.contract.envelopes import InputFile

    data = b'{"name": "' + b"a" * 40 + b'!"}'
    item = InputFile(
        name="p.json",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=len(data),
        content_type="application/json",
    )
    before = set(os.listdir("/proc"))
    started = time.monotonic()
    with pytest.raises(TimedOut):
        validate_within(validate, _envelope(CATASTROPHIC), [(item, Payload(data=data))], 1.0)
    assert time.monotonic() - started < 5
    # The forked check is gone: no process of ours that was not there before.
    leftover = {
        p for p in set(os.listdir("/proc")) - before if p.isdigit() and _parent(p) == os.getpid()
    }
    assert leftover == set()


def _parent(pid: str) -> int | None:
    """The parent of process `pid`; None when it has gone (it may go while we look)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_the_runtime_returns_a_quick_checks_result_and_reports_a_crash() -> None:
    from shared.contract.envelopes import InputFile
    from validators.runtime import CheckFailed

    data = b'{"name": ""}'
    item = InputFile(
        name="p.json",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=len(data),
        content_type="application/json",
    )
    schema = {"type": "object", "properties": {"name": {"minLength": 1}}}
    result = validate_within(validate, _envelope(schema), [(item, Payload(data=data))], 30)
    assert [f.path for f in result.findings] == ["/name"]

    def broken(envelope: Any, files: Any) -> Any:
        raise ValueError("boom")

    with pytest.raises(CheckFailed, match="ValueError: boom"):
        validate_within(broken, _envelope(schema), [(item, Payload(data=data))], 30)


def test_own_deadline_leaves_time_to_report_before_cloud_run_stops_the_task() -> None:
    assert own_deadline(5) == 3.5
    assert own_deadline(600) == 570
    assert own_deadline(3600) == 3570
    assert own_deadline(1) == 1.0


def test_the_jobs_own_deadline_counts_from_its_process_start_not_its_imports() -> None:
    """A job whose interpreter was slow to reach the runtime (a loaded machine) has
    less time left, as Cloud Run's clock started when the process did."""
    import subprocess
    import sys

    script = (
        "import time; time.sleep(1.0)\n"
        "from validators import runtime\n"
        "print(time.monotonic() - runtime._PROCESS_STARTED)\n"
    )
    spent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    assert 1.0 <= float(spent.stdout) < 10.0
