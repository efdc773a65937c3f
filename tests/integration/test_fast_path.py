"""The fast path on the real API (functions-framework test client, Firestore emulator,
the Cloud Tasks stand-in): a light workflow's small file runs inside the api function
(no launch task), through the same findings and run rules as the job path; `Prefer:
wait=N` answers 200 with the finished run; a large file or `execution: job` takes the
job path; DO_NOT_STORE stores nothing at all; a catastrophic regex is stopped at the
deadline; concurrent duplicates make one run; a launch that got there first wins."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared import wiring
from shared.domain.task_bodies import LaunchTask
from shared.platform.clock import utcnow
from shared.platform.config import get_settings
from shared.services import fast_path
from shared.services.launches import _claim
from tests.factories import workflow_body

VALID = b'{"name": "Ada", "email": "ada@example.com"}'
INVALID = b'{"name": 7}'
CATASTROPHIC = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}


def _create(api: Any, **extra: Any) -> None:
    body = workflow_body(**{"execution": "auto", **extra})
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert created.status_code == 201, created.get_json()


def _submit(api: Any, data: bytes = VALID, **headers: str) -> Any:
    return api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=data,
        headers={"Content-Type": "application/json", **headers},
    )


def _findings(api: Any, run_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/findings").get_json()[
        "items"
    ]
    return items


def _stored(org: str) -> list[Path]:
    root = Path(get_settings().storage_uri.removeprefix("file://"))
    return [p for p in root.rglob("*") if p.is_file() and f"/{org}/" in str(p)]


def test_a_small_file_on_a_light_workflow_runs_inline(api: Any) -> None:
    _create(api)
    passed = _submit(api)
    assert passed.status_code == 202  # no Prefer: the usual answer, the run already done
    run = passed.get_json()["run"]
    assert (run["status"], run["result"]) == ("SUCCEEDED", "PASS")
    (step,) = run["steps"]
    assert (step["execution"], step["status"], step["attempt"]) == ("inline", "PASSED", 1)
    assert step["execution_name"] is None and step["job_status"] == "SUCCEEDED"

    failed = _submit(api, INVALID).get_json()["run"]
    assert (failed["status"], failed["result"]) == ("FAILED", "FAIL")
    findings = _findings(api, failed["id"])
    assert {(f["code"], f["path"]) for f in findings} == {("schema.type", "/name")}
    assert api.tasks() == []  # no launch was queued for either
    assert "execution" in api.get(f"/v1/orgs/{api.org}/workflows/people").get_json()


def test_prefer_wait_answers_200_with_the_finished_run(api: Any) -> None:
    _create(api)
    answer = _submit(api, Prefer="wait=10")
    assert answer.status_code == 200
    assert answer.headers["Preference-Applied"] == "wait=10"
    assert answer.get_json()["run"]["state"] == "COMPLETED"
    capped = _submit(api, Prefer="respond-async, wait=600")
    assert (capped.status_code, capped.headers["Preference-Applied"]) == (200, "wait=30")


def test_the_job_path_answers_202_when_the_wait_runs_out(api: Any) -> None:
    _create(api, execution="job")
    started = time.monotonic()
    answer = _submit(api, Prefer="wait=1")
    assert answer.status_code == 202 and 0.9 < time.monotonic() - started < 5
    assert answer.get_json()["run"]["status"] == "PENDING"
    assert len(api.tasks()) == 1  # the launch, for the job that nobody runs here


def test_a_file_over_the_threshold_takes_the_job_path(api: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("ASSAY_FAST_PATH_MAX_BYTES", "16")
    get_settings.cache_clear()
    try:
        _create(api)
        run = _submit(api).get_json()["run"]
        assert run["status"] == "PENDING" and run["steps"][0]["execution"] == "job"
        assert len(api.tasks()) == 1
    finally:
        get_settings.cache_clear()


def test_without_a_sandbox_every_run_takes_the_job_path(api: Any, monkeypatch: Any) -> None:
    """Where the api has no bubblewrap (Cloud Functions' image), nothing is parsed in it."""
    from validators import sandbox

    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-that-is-not-installed")
    sandbox.available.cache_clear()
    try:
        for execution in ("auto", "inline"):
            _create(api, slug=f"no-sandbox-{execution}", execution=execution)
            answer = api.post(
                f"/v1/orgs/{api.org}/workflows/no-sandbox-{execution}/runs",
                data=VALID,
                headers={"Content-Type": "application/json"},
            )
            run = answer.get_json()["run"]
            assert run["status"] == "PENDING" and run["steps"][0]["execution"] == "job"
        assert len(api.tasks()) == 2
    finally:
        sandbox.available.cache_clear()


def test_inline_is_refused_for_a_validator_that_needs_a_job(api: Any) -> None:
    body = {
        "name": "Box",
        "slug": "box",
        "execution": "inline",
        "steps": [{"name": "Sim", "validator": "energyplus", "config": {}}],
    }
    answer = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert answer.status_code == 422
    assert "['energyplus'] run only as jobs" in answer.get_json()["detail"]


@pytest.mark.firestore
def test_do_not_store_inline_writes_no_content_anywhere(api: Any) -> None:
    _create(api, retention={"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"})
    secret = b'{"name": 12345678}'
    body = _submit(api, secret, Prefer="wait=5").get_json()
    assert body["run"]["result"] == "FAIL"
    submission = body["submission"]
    assert submission["content_stored"] is False
    assert submission["content_purged_at"] == submission["created_at"]
    assert submission["size_bytes"] == len(secret) and len(submission["checksum_sha256"]) == 64
    assert _stored(api.org) == []  # not the file, not a bundle, not an output
    assert api.tasks() == []  # and no purge to queue: there is nothing to purge
    doc = api.repos.document("purge_retries", submission["id"]).get()
    assert not doc.exists
    (finding,) = _findings(api, body["run"]["id"])
    assert "12345678" not in finding["message"]  # redacted, as on the job path


def test_a_catastrophic_regex_is_stopped_at_the_step_timeout(api: Any) -> None:
    body = workflow_body(execution="inline")
    body["steps"][0] = {
        "name": "Trap",
        "validator": "json-schema",
        "config": {"schema": CATASTROPHIC},
        "timeout_seconds": 2,
    }
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=body).status_code == 201
    started = time.monotonic()
    answer = _submit(api, b'{"name": "' + b"a" * 48 + b'!"}', Prefer="wait=10")
    assert time.monotonic() - started < 8
    run = answer.get_json()["run"]
    assert (answer.status_code, run["status"], run["result"]) == (200, "TIMED_OUT", "TIMED_OUT")
    assert "did not finish within 2s" in run["steps"][0]["error"]
    # The API still answers, at once.
    started = time.monotonic()
    assert _submit(api, VALID).status_code == 202 and time.monotonic() - started < 2


def test_concurrent_duplicates_make_one_inline_run(api: Any) -> None:
    _create(api)

    def attempt(_: int) -> tuple[int, str]:
        client = create_app(target="api", source="functions/main.py").test_client()
        response = client.post(
            f"/v1/orgs/{api.org}/workflows/people/runs",
            data=INVALID,
            headers=api.headers(
                **{"Content-Type": "application/json", "Idempotency-Key": "k", "Prefer": "wait=20"}
            ),
        )
        return response.status_code, response.get_json()["run"]["id"]

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(attempt, range(6)))
    assert {status for status, _ in answers} == {200}
    (run_id,) = {run for _, run in answers}
    assert len(api.repos.runs.page(api.org).items) == 1
    assert len(_findings(api, run_id)) == 1  # one run, its one finding, once


def test_a_launch_that_claimed_the_step_first_wins(api: Any, monkeypatch: Any) -> None:
    _create(api, retention={"submission": "STORE_1_DAY", "output": "STORE_1_DAY"})
    repos, settings = wiring.repositories(), get_settings()
    # The api instance stalls after recording the run (the fault, injected) ...
    stalled = fast_path.run_inline
    monkeypatch.setattr(fast_path, "run_inline", lambda repos, store, queue, settings, run, *_: run)
    body = _submit(api, INVALID).get_json()
    run = repos.runs.get(api.org, body["run"]["id"])
    assert (run.execution, run.status) == ("inline", "PENDING")
    assert run.reconcile_at > run.created_at  # past its inline budget: then a launch heals it
    submission = repos.submissions.get(api.org, body["submission"]["id"])
    # ... the reconcile pass launches the step as a job meanwhile ...
    _claim(repos, settings, LaunchTask(run_id=run.id, step_order=0, attempt=1), utcnow)
    # ... and the inline check, finishing late, loses: its results are withdrawn.
    queue, store = wiring.task_queue(), wiring.blob_store()
    after = stalled(repos, store, queue, settings, run, submission, INVALID)
    assert (after.steps[0].execution, after.steps[0].status) == ("job", "RUNNING")
    assert _findings(api, run.id) == []


def test_the_fork_server_is_prepared_once_however_many_first_checks_arrive(
    monkeypatch: Any,
) -> None:
    """The api serves concurrent requests: sixteen first inline checks at once prepare
    one sandbox folder and configure the fork server once (a lock, shared/platform/once.py), not
    one each with the losers' folders left behind."""
    import tempfile
    import threading

    from validators import sandbox

    folders: list[str] = []
    mkdtemp, interpreter = tempfile.mkdtemp, sandbox.interpreter

    def counted(*args: Any, **kwargs: Any) -> str:
        folder: str = mkdtemp(*args, **kwargs)
        folders.append(folder)
        return folder

    def slow(folder: Path, limits: sandbox.Limits) -> Path:
        time.sleep(0.05)  # long enough for every first check to arrive meanwhile
        return interpreter(folder, limits)

    monkeypatch.setattr(tempfile, "mkdtemp", counted)
    monkeypatch.setattr(sandbox, "interpreter", slow)
    fast_path._context.cache_clear()  # as in a new instance: nothing built yet
    start = threading.Barrier(16)

    def first(_: int) -> Any:
        start.wait()
        return fast_path._context()

    with ThreadPoolExecutor(16) as pool:
        contexts = list(pool.map(first, range(16)))
    assert len(folders) == 1 and all(c is contexts[0] for c in contexts)
    assert fast_path._context() is contexts[0]
