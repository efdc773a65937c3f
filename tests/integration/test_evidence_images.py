"""What the evidence records of a job's image: the job-runner stand-in answers, as Cloud
Run does, the execution's image in its template (`local/<job>@sha256:<digest of the
job's folder>`), and the Jobs adapter (the real client) reads it back."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from devstack.job_runner import JobRunner, folder_digest
from shared.adapters.jobs import CloudRunJobs
from shared.platform.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner(tmp_path: Path) -> JobRunner:
    return JobRunner(tmp_path / "logs", job_prefix="test-", module_prefix="tests.jobs.")


def test_the_adapter_reads_the_image_the_stand_in_reports(serve: Any, runner: JobRunner) -> None:
    jobs = CloudRunJobs(Settings(jobs_endpoint=serve(runner).url, project="p", region="r"))
    uri = "gs://b/runs/o/r/steps/0/1/input.json"
    execution = jobs.run("test-sleeper", {"SLEEP": "0", "INPUT_URI": uri})
    source = (ROOT / "tests" / "jobs" / "sleeper.py").read_bytes()
    line = f"sleeper.py\0{hashlib.sha256(source).hexdigest()}\n".encode()
    expected = f"local/test-sleeper@sha256:{hashlib.sha256(line).hexdigest()}"
    assert execution.image == expected
    assert jobs.get(execution.name).image == expected
    assert [e.image for e in jobs.find("test-sleeper", uri)] == [expected]  # reconcile's way


def test_a_folder_digest_changes_with_any_file_and_ignores_caches(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "pkg" / "b.txt").write_text("b\n")
    first = folder_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert folder_digest(tmp_path / "pkg") == first
    (tmp_path / "pkg" / "b.txt").write_text("c\n")
    assert folder_digest(tmp_path / "pkg") != first
    lines = "".join(
        f"{name}\0{hashlib.sha256(data).hexdigest()}\n"
        for name, data in (("a.py", b"A = 1\n"), ("b.txt", b"c\n"))
    )
    assert folder_digest(tmp_path / "pkg") == hashlib.sha256(lines.encode()).hexdigest()


def test_a_validator_job_is_its_package_folder() -> None:
    runner = JobRunner(Path("/tmp/unused"))
    image = runner.image_of("validator-json-schema", "validators.json_schema")
    digest = folder_digest(ROOT / "validators" / "json_schema")
    assert image == f"local/validator-json-schema@sha256:{digest}"
    assert runner.image_of("validator-json-schema", "validators.json_schema") is image  # once
