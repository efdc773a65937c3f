"""The evidence manifest (decision record 0085): built when a run ends, on the job path
and the fast path, with digests anyone can recompute from what the API serves; kept
after a DO_NOT_STORE purge and holding none of the content; one per run, whatever is
delivered again; served only to the run's own org, and only once the run has ended."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785

from shared import wiring
from shared.api.auth.api_keys import issue_key
from shared.contract.envelopes import CallbackBody, OutputFinding, OutputStatus
from shared.domain.enums import Severity
from shared.domain.evidence import digest
from shared.domain.models import ValidationRun
from shared.domain.task_bodies import LaunchTask
from shared.platform.config import get_settings
from shared.platform.errors import Conflict, NotFound
from shared.services import evidence, purge, workflows
from shared.services.callbacks import handle_callback
from shared.services.launches import _claim
from shared.services.runs import cancel_run
from shared.services.submissions import IncomingFile, submit
from tests.factories import make_org, workflow_body
from tests.integration.test_flows import write_output

SECRET = "Ada-Lovelace-7f3a9c"
FILE = json.dumps({"name": SECRET}).encode()


def _run(repos: Any, org: str, retention: str = "STORE_7_DAYS", data: bytes = FILE) -> Any:
    body = workflow_body(retention={"submission": retention, "output": "STORE_1_DAY"})
    workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    record, _ = issue_key(repos, org, "k")
    incoming = IncomingFile(data, "p.json", "application/json")
    settings, store, queue = get_settings(), wiring.blob_store(), wiring.task_queue()
    return submit(repos, store, queue, settings, key=record, slug="people", incoming=incoming).run


def _claimed(repos: Any, run: ValidationRun) -> Any:
    task = LaunchTask(run_id=run.id, step_order=0, attempt=1)
    claim = _claim(repos, get_settings(), task, lambda: datetime.now(UTC))
    assert not isinstance(claim, str), claim
    return claim.step


def _callback(body: CallbackBody) -> Any:
    settings, store, queue = get_settings(), wiring.blob_store(), wiring.task_queue()
    return handle_callback(wiring.repositories(), store, queue, settings, body)


def _findings_sha256(api_or_repos: Any, org: str, run_id: str) -> str:
    """The findings' digest as README says to recompute it: RFC 8785 of the array of
    each stored finding's seven fields, in stored order."""
    page = api_or_repos.findings.page(org, run_id, limit=1000)
    fields = ("severity", "code", "message", "path", "line", "column", "rule")
    listed = [{k: f.model_dump(mode="json")[k] for k in fields} for f in page.items]
    return hashlib.sha256(rfc8785.dumps(listed)).hexdigest()


def _config_sha256(run: ValidationRun) -> str:
    viewed = {"resources": {"__all__": {"uri"}}}  # as the API's run shows its config
    steps = [s.model_dump(mode="json", exclude=viewed) for s in run.config]
    return hashlib.sha256(rfc8785.dumps(steps)).hexdigest()


def test_a_job_run_ends_with_its_manifest(flow: Any) -> None:
    repos, org = flow
    run = _run(repos, org)
    step = _claimed(repos, run)
    body = write_output(run, step, findings=2)
    _callback(body)
    ended = repos.runs.get(org, run.id)
    found = evidence.manifest(repos, org, run.id)

    assert (found.status, found.result) == (ended.status, ended.result) == ("FAILED", "FAIL")
    assert found.input is not None
    assert found.input.sha256 == hashlib.sha256(FILE).hexdigest()
    assert (found.input.size_bytes, found.input.content_type) == (len(FILE), "application/json")
    assert (found.workflow.slug, found.workflow.version) == ("people", 1)
    assert found.workflow.config_sha256 == _config_sha256(ended)
    (evidenced,) = found.steps
    output = wiring.blob_store().read_bytes(body.result_uri)
    assert evidenced.output_sha256 == hashlib.sha256(output).hexdigest()
    assert evidenced.findings_sha256 == _findings_sha256(repos, org, run.id)
    assert (evidenced.validator, evidenced.validator_version) == ("json-schema", "1.0.0")
    assert evidenced.status == "FAILED" and evidenced.ended_at == ended.steps[0].ended_at
    assert found.ended_at == ended.ended_at


def test_an_inline_run_ends_with_its_manifest(api: Any) -> None:
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body(execution="auto"))
    assert created.status_code == 201
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": 7}',
        headers={"Content-Type": "application/json"},
    )
    run_id = answer.get_json()["run"]["id"]
    served = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/evidence")
    assert served.status_code == 200
    manifest = served.get_json()
    (step,) = manifest["steps"]
    # No output.json exists on the fast path: its findings' digest is the evidence.
    assert step["output_sha256"] is None and step["image"] is None
    assert step["findings_sha256"] == _findings_sha256(api.repos, api.org, run_id)
    assert step["engine"]["name"] in ("jsonschema", "jsonschema-rs")
    assert manifest["result"] == "FAIL"
    assert manifest["input"]["sha256"] == hashlib.sha256(b'{"name": 7}').hexdigest()
    config = api.get(f"/v1/orgs/{api.org}/runs/{run_id}").get_json()["config"]
    recomputed = hashlib.sha256(rfc8785.dumps(config)).hexdigest()
    assert manifest["workflow"]["config_sha256"] == recomputed
    config = api.get(f"/v1/orgs/{api.org}/runs/{run_id}").get_json()["config"]
    assert (
        manifest["workflow"]["config_sha256"] == hashlib.sha256(rfc8785.dumps(config)).hexdigest()
    )
    # What is served re-serializes to the digest of what was stored.
    assert hashlib.sha256(rfc8785.dumps(manifest)).hexdigest() == digest(
        api.repos.evidence.find(api.org, run_id)
    )


def test_the_manifest_outlives_a_do_not_store_purge_and_holds_no_content(flow: Any) -> None:
    repos, org = flow
    run = _run(repos, org, "DO_NOT_STORE")
    step = _claimed(repos, run)
    quoting = OutputFinding(severity=Severity.ERROR, code="schema.type", message=SECRET)
    body = write_output(run, step, findings=0)
    stored = json.loads(wiring.blob_store().read_bytes(body.result_uri))
    stored["findings"] = [quoting.model_dump(mode="json")]
    wiring.blob_store().write_bytes(body.result_uri, json.dumps(stored).encode())
    _callback(body)
    before = evidence.manifest(repos, org, run.id)
    assert (
        purge.purge_content(repos, wiring.blob_store(), get_settings(), run.submission_id)
        is not None
    )
    assert repos.submissions.get(org, run.submission_id).content_purged_at is not None
    after = evidence.manifest(repos, org, run.id)
    assert after == before and after.steps[0].output_sha256 is not None
    assert SECRET not in after.model_dump_json()
    assert SECRET.encode() not in rfc8785.dumps(after.model_dump(mode="json"))


def test_a_duplicate_end_writes_no_second_manifest(flow: Any) -> None:
    repos, org = flow
    run = _run(repos, org)
    step = _claimed(repos, run)
    body = write_output(run, step, status=OutputStatus.SUCCESS, findings=0)
    _callback(body)
    first = evidence.manifest(repos, org, run.id)
    assert _callback(body).replay is True
    with pytest.raises(Conflict):  # a cancel of an ended run is refused
        cancel_run(repos, wiring.task_queue(), get_settings(), org, run.id)
    assert evidence.manifest(repos, org, run.id) == first
    assert first.result == "PASS"


def test_evidence_is_the_own_orgs_and_only_of_an_ended_run(api: Any) -> None:
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body())
    assert created.status_code == 201
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=FILE,
        headers={"Content-Type": "application/json"},
    )
    run_id = answer.get_json()["run"]["id"]
    pending = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/evidence")
    assert pending.status_code == 409
    assert pending.headers["Content-Type"].startswith("application/problem+json")
    missing = api.get(f"/v1/orgs/{api.org}/runs/{'A' * 20}/evidence")
    assert missing.status_code == 404
    other, _ = make_org(api.repos, "other")
    run = api.repos.runs.get(api.org, run_id)
    # Another org's run, asked for through that org's own path: missing, as any other.
    with pytest.raises(NotFound):
        evidence.manifest(api.repos, other, run.id)
    assert api.get(f"/v1/orgs/{other}/runs/{run_id}/evidence").status_code == 404
