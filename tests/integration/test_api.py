"""The public API through functions-framework's test client, against the Firestore
emulator, file storage and the Cloud Tasks stand-in."""

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from shared.platform.clock import utcnow
from tests.factories import make_org, workflow_body

VALID = b'{"name": "Ada", "email": "ada@example.com"}'


def create_workflow(api, **extra):
    response = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body(**extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def submit(api, data=VALID, slug="people", **headers):
    return api.post(
        f"/v1/orgs/{api.org}/workflows/{slug}/runs",
        data=data,
        headers={"Content-Type": "application/json", **headers},
    )


def assert_problem(response, status, *words):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body["detail"]


def test_health_needs_no_key(api):
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_keys_are_required_and_checked(api):
    path = f"/v1/orgs/{api.org}/workflows"
    assert_problem(api.client.get(path), 401, "Authorization")
    assert_problem(api.client.get(path, headers={"Authorization": "Bearer nope"}), 401, "malformed")
    forged = api.key.rsplit("_", 1)[0] + "_wrongsecret"
    assert_problem(
        api.client.get(path, headers={"Authorization": f"Bearer {forged}"}), 401, "not valid"
    )
    key_id = api.key.split("_")[1]
    record = api.repos.keys.get(key_id)
    api.repos.keys.save(record.model_copy(update={"expires_at": utcnow() - timedelta(1)}))
    assert_problem(api.get(path), 401, "expired")
    api.repos.keys.save(record.model_copy(update={"revoked_at": utcnow()}))
    assert_problem(api.get(path), 401, "revoked")


def test_workflow_lifecycle_and_versions(api):
    created = create_workflow(api)
    pinned = submit(api).get_json()
    assert (created["version"], created["slug"], created["id"]) == (1, "people", created["id"])
    update = workflow_body(steps=2)
    response = api.client.put(
        f"/v1/orgs/{api.org}/workflows/people", json=update, headers=api.headers()
    )
    assert response.status_code == 200
    assert response.get_json()["version"] == 2
    assert len(api.get(f"/v1/orgs/{api.org}/workflows/people").get_json()["steps"]) == 2
    v1 = api.get(f"/v1/orgs/{api.org}/workflows/people?version=1").get_json()
    assert (v1["version"], len(v1["steps"])) == (1, 1)
    listing = api.get(f"/v1/orgs/{api.org}/workflows").get_json()["items"]
    assert [w["slug"] for w in listing] == ["people"]
    assert_problem(
        api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body()), 409, "already exists"
    )
    assert_problem(api.get(f"/v1/orgs/{api.org}/workflows/people?version=9"), 404, "version 9")
    # The submission made before the PUT keeps the version it pinned.
    old = api.get(f"/v1/orgs/{api.org}/runs/{pinned['run']['id']}").get_json()
    assert (old["workflow_version"], len(old["steps"])) == (1, 1)
    assert old["submission"]["workflow_version"] == 1
    new = submit(api).get_json()["run"]
    assert (new["workflow_version"], len(new["steps"])) == (2, 2)


def test_bad_workflow_requests(api):
    path = f"/v1/orgs/{api.org}/workflows"
    assert_problem(
        api.post(path, data="{nope", headers={"Content-Type": "application/json"}),
        400,
        "not valid JSON",
    )
    body = workflow_body()
    body["steps"][0]["config"] = {"schema": {"type": "whatever"}}
    assert_problem(api.post(path, json=body), 422, "steps[0]", "not a valid JSON Schema")
    body = workflow_body()
    body["steps"][0]["validator"] = "nope"
    assert_problem(api.post(path, json=body), 422, "steps[0]", "unknown validator")
    assert_problem(api.post(path, json={"name": "x"}), 422, "slug")


def test_submit_a_raw_body(api):
    create_workflow(api)
    response = submit(api, VALID, **{"X-Filename": "ada.json"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    run, submission = body["run"], body["submission"]
    assert response.headers["Location"] == f"/v1/orgs/{api.org}/runs/{run['id']}"
    assert (run["status"], run["state"], run["result"]) == ("PENDING", "PENDING", "UNKNOWN")
    assert run["submission"]["id"] == submission["id"] == run["submission_id"]
    assert submission["original_filename"] == "ada.json"
    assert submission["size_bytes"] == len(VALID)
    assert submission["retention_policy"] == "STORE_7_DAYS"
    assert submission["expires_at"] is not None
    assert "content" not in submission and "input_file" not in submission
    # One launch task was queued, named from the run, step and attempt.
    tasks = api.tasks()
    assert len(tasks) == 1
    assert json.loads(tasks[0].body) == {
        "kind": "launch",
        "run_id": run["id"],
        "step_order": 0,
        "attempt": 1,
    }
    assert tasks[0].oidc_audience == "http://127.0.0.1:9/launch"


def test_submit_a_json_envelope_with_base64(api):
    create_workflow(api)
    envelope = {
        "content": base64.b64encode(VALID).decode(),
        "content_encoding": "base64",
        "filename": "p.json",
        "metadata": {"batch": 7},
    }
    response = submit(api, json.dumps(envelope))
    assert response.status_code == 202
    submission = response.get_json()["submission"]
    assert (submission["original_filename"], submission["size_bytes"]) == ("p.json", len(VALID))
    assert submission["metadata"] == {"batch": 7}
    import hashlib

    assert submission["checksum_sha256"] == hashlib.sha256(VALID).hexdigest()


def test_any_other_json_body_is_the_file_itself(api):
    create_workflow(api)
    body = json.dumps({"content": {"nested": True}, "other": 1}).encode()
    submission = submit(api, body).get_json()["submission"]
    assert submission["size_bytes"] == len(body)


def test_submit_multipart(api):
    create_workflow(api)
    response = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data={
            "file": (io.BytesIO(VALID), "upload.json", "application/json"),
            "metadata": json.dumps({"source": "form"}),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    submission = response.get_json()["submission"]
    assert submission["original_filename"] == "upload.json"
    assert submission["metadata"] == {"source": "form"}
    fetched = api.get(f"/v1/orgs/{api.org}/submissions/{submission['id']}").get_json()
    assert fetched["checksum_sha256"] == submission["checksum_sha256"]
    assert "content" not in fetched


def test_size_and_type_limits(api, monkeypatch):
    create_workflow(api)
    monkeypatch.setenv("ASSAY_MAX_UPLOAD_BYTES", "64")
    from shared import wiring

    wiring.reset()
    assert_problem(submit(api, b'{"name": "' + b"x" * 100 + b'"}'), 413, "64")
    assert_problem(
        submit(api, b"<a/>", **{"Content-Type": "application/xml"}),
        415,
        "accepts ['json']",
        "'xml'",
    )
    assert api.repos.runs.page(api.org).items == []


def test_unknown_workflow_and_other_orgs_are_404(api):
    assert_problem(submit(api, slug="missing"), 404, "missing")
    create_workflow(api)
    run_id = submit(api).get_json()["run"]["id"]
    other_org, other_key = make_org(api.repos, "other")
    other = {"Authorization": f"Bearer {other_key}"}
    # Their key on our org, and their org's path to our run: both look like nothing.
    assert_problem(api.client.get(f"/v1/orgs/{api.org}/runs/{run_id}", headers=other), 404)
    assert_problem(api.client.get(f"/v1/orgs/{other_org}/runs/{run_id}", headers=other), 404)
    assert_problem(
        api.client.get(f"/v1/orgs/{other_org}/runs/{run_id}/findings", headers=other), 404
    )
    assert_problem(api.get(f"/v1/orgs/{api.org}/runs/nope"), 404)
    assert_problem(api.get("/v1/nothing-here"), 404, "no route")


def test_idempotency_key_gives_the_same_answer_and_one_run(api):
    create_workflow(api)
    first = submit(api, **{"Idempotency-Key": "k-1"})
    second = submit(api, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 202
    assert first.get_json()["run"]["id"] == second.get_json()["run"]["id"]
    assert len(api.repos.runs.page(api.org).items) == 1
    assert_problem(
        submit(api, b'{"name": "Other"}', **{"Idempotency-Key": "k-1"}), 422, "different request"
    )


def test_concurrent_duplicates_with_one_idempotency_key_make_one_run(api):
    create_workflow(api)
    from functions_framework import create_app

    def attempt(_):
        client = create_app(target="api", source="functions/main.py").test_client()
        response = client.post(
            f"/v1/orgs/{api.org}/workflows/people/runs",
            data=VALID,
            headers=api.headers(**{"Content-Type": "application/json", "Idempotency-Key": "same"}),
        )
        body = response.get_json()
        return response.status_code, body["run"]["id"], body["submission"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(8)))
    assert {status for status, _, _ in answers} == {202}
    assert len({run_id for _, run_id, _ in answers}) == 1
    # Every answer names the same submission, identically.
    assert all(submission == answers[0][2] for _, _, submission in answers)
    assert len(api.repos.runs.page(api.org).items) == 1


def test_runs_list_pages_and_filters(api):
    create_workflow(api)
    ids = [submit(api).get_json()["run"]["id"] for _ in range(5)]
    seen, token = [], None
    while True:
        query = "?limit=2" + (f"&page_token={token}" if token else "")
        page = api.get(f"/v1/orgs/{api.org}/runs{query}").get_json()
        seen += [r["id"] for r in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert api.get(f"/v1/orgs/{api.org}/runs?status=SUCCEEDED").get_json()["items"] == []
    assert len(api.get(f"/v1/orgs/{api.org}/runs?workflow=people").get_json()["items"]) == 5
    assert_problem(api.get(f"/v1/orgs/{api.org}/runs?limit=0"), 400, "limit")


@pytest.mark.firestore
def test_a_run_whose_submission_is_gone_shows_null(api):
    create_workflow(api)
    body = submit(api).get_json()
    api.repos.document("submissions", body["submission"]["id"]).delete()
    run = api.get(f"/v1/orgs/{api.org}/runs/{body['run']['id']}").get_json()
    assert run["submission"] is None
    assert run["submission_id"] == body["submission"]["id"]


@pytest.mark.parametrize("size", [70 * 1024])
def test_large_files_are_stored_as_files_not_inline(api, size):
    create_workflow(api)
    data = b'{"name": "' + b"x" * size + b'"}'
    submission_id = submit(api, data).get_json()["submission"]["id"]
    stored = api.repos.submissions.find(submission_id)
    assert stored.content is None
    assert stored.input_file.endswith(f"/submissions/{api.org}/{submission_id}/submission.json")
    from shared.adapters.storage.local import path_of

    assert path_of(stored.input_file).read_bytes() == data


def test_a_submission_may_name_a_project_of_its_org(api):
    from shared.domain.models import Project
    from shared.platform.clock import utcnow
    from shared.platform.ids import new_id

    create_workflow(api)
    project = Project(id=new_id(), org_id=api.org, name="p", created_at=utcnow())
    api.repos.orgs.create_project(project)
    envelope = {"content": VALID.decode(), "filename": "a.json", "project_id": project.id}
    body = submit(api, json.dumps(envelope)).get_json()
    assert body["run"]["project_id"] == body["submission"]["project_id"] == project.id
    other_org, _ = make_org(api.repos, "other")
    foreign = Project(id=new_id(), org_id=other_org, name="q", created_at=utcnow())
    api.repos.orgs.create_project(foreign)
    for project_id in (foreign.id, "no-such-project"):
        envelope["project_id"] = project_id
        assert_problem(submit(api, json.dumps(envelope)), 422, "not a project")
    assert len(api.repos.runs.page(api.org).items) == 1
