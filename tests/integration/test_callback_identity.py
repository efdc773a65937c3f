"""The callback takes a step's result only from that step's own validator's job
(decision record 0020): real ID tokens, minted by the local metadata stand-in for each
job's own account, against the callback function itself and the Firestore emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from devstack import units
from devstack.job_runner import JobRunner
from devstack.metadata_server import MetadataServer, fetch_token
from shared import wiring
from shared.api.auth.id_tokens import verify_id_token
from shared.contract.envelopes import MAX_CALLBACK_BODY_BYTES, OutputStatus
from shared.domain.enums import RunStatus, StepStatus
from shared.platform.config import get_settings
from shared.services import workflows
from shared.services.submissions import IncomingFile, submit
from tests.conftest import PROJECT
from tests.factories import workflow_body
from tests.integration.test_flows import claimed, write_output

CALLBACK_URL = "http://127.0.0.1:9/callback"
IDENTITIES = units.validator_identities(PROJECT)
FMU, ENERGYPLUS = IDENTITIES["fmu"], IDENTITIES["energyplus"]
TASKS = units.service_account("tasks", PROJECT)


@dataclass
class Callback:
    client: Any
    metadata_url: str

    def token(self, email: str) -> str:
        return fetch_token(self.metadata_url, email, CALLBACK_URL)

    def post(self, body: Any, email: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(email)}"} if email else {}
        return self.client.post("/", json=body, headers=headers, **kwargs)


def identities_setting(identities: dict[str, str]) -> str:
    return ",".join(f"{validator}={email}" for validator, email in identities.items())


@pytest.fixture
def callback(flow: Any, serve: Any, monkeypatch: pytest.MonkeyPatch) -> Callback:
    """The callback function as deployed: every validator job may call it, and it knows
    which job each validator's results come from."""
    metadata = serve(MetadataServer([*IDENTITIES.values(), TASKS], None, PROJECT))
    monkeypatch.setenv("ASSAY_CERTS_URL", f"{metadata.url}/oauth2/v1/certs")
    monkeypatch.setenv("ASSAY_CALLBACK_URL", CALLBACK_URL)
    monkeypatch.setenv("ASSAY_CALLBACK_INVOKERS", ",".join(IDENTITIES.values()))
    monkeypatch.setenv("ASSAY_VALIDATOR_IDENTITIES", identities_setting(IDENTITIES))
    wiring.reset()
    client = create_app(target="callback", source="functions/main.py").test_client()
    return Callback(client, metadata.url)


def energyplus_run(repos: Any, org: str) -> Any:
    """A run whose one step is an energyplus step, claimed as a launch claims it."""
    steps = [{"name": "Simulate", "validator": "energyplus", "config": {}}]
    body = workflow_body(slug="models", steps=1) | {"steps": steps}
    workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    from shared.api.auth.api_keys import issue_key

    record, _ = issue_key(repos, org, "k")
    run = submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=record,
        slug="models",
        incoming=IncomingFile(b"Version,25.2;\n", "box.idf", "text/plain"),
    ).run
    return run, claimed(repos, run)


def job_token(job: str, metadata_url: str) -> str:
    """An ID token as a job process mints it: google-auth's own fetch_id_token, in a
    process with the environment the job runner gives that job."""
    host = metadata_url.removeprefix("http://")
    runner = JobRunner(
        Path("unused"),  # nothing is run
        env={"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host},
        identities=units.job_accounts(PROJECT),
    )
    env = {"PATH": "/usr/bin:/bin", **runner.env, **runner.identity_env(job)}
    script = (
        "import google.auth.transport.requests as r; from google.oauth2 import id_token; "
        f"print(id_token.fetch_id_token(r.Request(), {CALLBACK_URL!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_each_job_mints_its_tokens_as_its_own_account(callback: Callback) -> None:
    certs = f"{callback.metadata_url}/oauth2/v1/certs"
    for job in ("validator-fmu", "validator-energyplus"):
        token = job_token(job, callback.metadata_url)
        caller = verify_id_token(
            token, audience=CALLBACK_URL, allowed_emails=IDENTITIES.values(), certs_url=certs
        )
        assert caller.email == f"assay-{job}@{PROJECT}.iam.gserviceaccount.com"


def test_another_validators_job_is_refused_and_the_step_is_unchanged(
    flow: Any, callback: Callback
) -> None:
    repos, org = flow
    run, step = energyplus_run(repos, org)
    body = json.loads(write_output(run, step, OutputStatus.SUCCESS, findings=2).model_dump_json())
    before = repos.runs.get(org, run.id)

    answer = callback.post(body, FMU)

    assert answer.status_code == 403
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    detail = answer.get_json()["detail"]
    assert FMU in detail and ENERGYPLUS in detail and "'energyplus'" in detail
    assert repos.runs.get(org, run.id) == before
    assert repos.runs.get(org, run.id).steps[0].status is StepStatus.RUNNING
    assert repos.receipts.find(step.callback_id) is None
    assert repos.findings.count(run.id) == 0

    answer = callback.post(body, ENERGYPLUS)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {"replay": False, "run_id": run.id, "status": "FAILED"}
    assert repos.runs.get(org, run.id).result == "FAIL"  # its two ERROR findings
    assert repos.findings.count(run.id) == 2


def test_a_job_s_own_token_minted_by_google_auth_is_accepted(flow: Any, callback: Callback) -> None:
    repos, org = flow
    run, step = energyplus_run(repos, org)
    body = json.loads(write_output(run, step, OutputStatus.SUCCESS, findings=0).model_dump_json())
    token = job_token("validator-energyplus", callback.metadata_url)
    answer = callback.client.post("/", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert repos.runs.get(org, run.id).status is RunStatus.SUCCEEDED


@pytest.mark.firestore
def test_a_replay_and_a_late_callback_answer_only_the_step_s_own_job(
    flow: Any, callback: Callback
) -> None:
    repos, org = flow
    run, step = energyplus_run(repos, org)
    body = json.loads(write_output(run, step, OutputStatus.SUCCESS, findings=1).model_dump_json())
    assert callback.post(body, ENERGYPLUS).get_json()["replay"] is False
    done = repos.runs.get(org, run.id)

    refused = callback.post(body, FMU)
    assert refused.status_code == 403 and "energyplus" in refused.get_json()["detail"]
    assert callback.post(body, ENERGYPLUS).get_json()["replay"] is True
    # With the receipt gone, the ended run is what the callback reads: still refused.
    repos.document("callback_receipts", step.callback_id).delete()
    assert callback.post(body, FMU).status_code == 403
    assert repos.runs.get(org, run.id) == done and repos.findings.count(run.id) == 1


def test_a_validator_with_no_configured_identity_has_its_results_refused(
    flow: Any, callback: Callback, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos, org = flow
    run, step = energyplus_run(repos, org)
    body = json.loads(write_output(run, step, OutputStatus.SUCCESS).model_dump_json())
    others = {v: e for v, e in IDENTITIES.items() if v != "energyplus"}
    monkeypatch.setenv("ASSAY_VALIDATOR_IDENTITIES", identities_setting(others))
    wiring.reset()
    answer = callback.post(body, ENERGYPLUS)
    assert answer.status_code == 403
    assert "ASSAY_VALIDATOR_IDENTITIES" in answer.get_json()["detail"]
    assert repos.runs.get(org, run.id).steps[0].status is StepStatus.RUNNING


def test_the_verify_caller_checks_still_come_first(flow: Any, callback: Callback) -> None:
    repos, org = flow
    run, step = energyplus_run(repos, org)
    body = json.loads(write_output(run, step, OutputStatus.SUCCESS).model_dump_json())
    assert callback.post(body).status_code == 401
    assert callback.post(body, TASKS).status_code == 403  # not on the allow-list
    elsewhere = fetch_token(callback.metadata_url, ENERGYPLUS, "http://127.0.0.1:9/launch")
    wrong = callback.client.post("/", json=body, headers={"Authorization": f"Bearer {elsewhere}"})
    assert wrong.status_code == 401
    assert repos.runs.get(org, run.id).steps[0].status is StepStatus.RUNNING


def test_a_callback_body_over_its_cap_is_refused_before_it_is_parsed(
    flow: Any, callback: Callback
) -> None:
    repos, org = flow
    run, step = energyplus_run(repos, org)
    body = json.loads(write_output(run, step, OutputStatus.SUCCESS).model_dump_json())
    body["padding"] = "x" * MAX_CALLBACK_BODY_BYTES
    answer = callback.post(body, ENERGYPLUS)
    assert answer.status_code == 413
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    long_uri = dict(body, result_uri="file:///" + "a" * 3000)
    del long_uri["padding"]
    assert callback.post(long_uri, ENERGYPLUS).status_code == 422
    assert repos.runs.get(org, run.id).steps[0].status is StepStatus.RUNNING
