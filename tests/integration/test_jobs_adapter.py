"""The Cloud Run Jobs adapter (the real google-cloud-run client, REST) against the local
job runner, which runs each execution as a process."""

import time

import pytest

from devstack.job_runner import JobRunner
from shared.adapters.jobs import CloudRunJobs, PermanentJobError
from shared.domain.enums import CloudRunJobStatus
from shared.platform.config import Settings


@pytest.fixture
def jobs(serve, tmp_path):
    server = serve(JobRunner(tmp_path / "logs", job_prefix="test-", module_prefix="tests.jobs."))
    return CloudRunJobs(Settings(jobs_endpoint=server.url, project="p", region="r"))


def settle(jobs, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.get(name).status
        if status not in (CloudRunJobStatus.PENDING, CloudRunJobStatus.RUNNING):
            return status
        time.sleep(0.1)
    raise AssertionError("the execution did not finish")


def test_run_reports_success_and_failure(jobs):
    ok = jobs.run("test-sleeper", {"SLEEP": "0"})
    assert ok.name.startswith("projects/p/locations/r/jobs/test-sleeper/executions/test-sleeper-")
    assert settle(jobs, ok.name) is CloudRunJobStatus.SUCCEEDED
    failed = jobs.run("test-sleeper", {"EXIT_CODE": "3"})
    assert settle(jobs, failed.name) is CloudRunJobStatus.FAILED


def test_a_running_execution_can_be_cancelled(jobs):
    execution = jobs.run("test-sleeper", {"SLEEP": "60"})
    assert execution.status is CloudRunJobStatus.RUNNING
    assert jobs.get(execution.name).status is CloudRunJobStatus.RUNNING
    jobs.cancel(execution.name)
    assert jobs.get(execution.name).status is CloudRunJobStatus.CANCELLED


def test_an_unknown_job_is_a_permanent_error(jobs):
    with pytest.raises(PermanentJobError, match="not found"):
        jobs.run("test-no-such-module", {})
    with pytest.raises(PermanentJobError):
        jobs.get("projects/p/locations/r/jobs/test-sleeper/executions/nope")
