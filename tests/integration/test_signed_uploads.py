"""Large files by signed URL: the api grants a V4 URL (signed through the IAM Credentials
client against the metadata stand-in's signBlob), the Cloud Storage stand-in checks it
as Cloud Storage does and stores the body, and the upload trigger makes it a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from devstack.metadata_server import MetadataServer
from devstack.signed_url_gate import SignedUrlGate
from devstack.upload_notifier import object_resource
from shared import wiring
from shared.adapters.storage.local import LocalBlobStore, path_of
from shared.platform.config import get_settings
from shared.platform.errors import Transient
from shared.services import uploads
from tests.factories import workflow_body

API_SA = "assay-api@assay-test.iam.gserviceaccount.com"
DOC = json.dumps({"name": "Ada", "age": 36}).encode()


class GateClock:
    def __init__(self) -> None:
        self.skew = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skew


@pytest.fixture
def clock() -> GateClock:
    return GateClock()


@pytest.fixture
def signed(api, serve, monkeypatch, tmp_path, clock):
    """The api with the IAM stand-in signing as its account and the gate in front of an
    uploads folder."""
    metadata = serve(MetadataServer([API_SA], API_SA, "assay-test"))
    uploads_uri = (tmp_path / "uploads").as_uri()
    certs = metadata.url + "/service_accounts/v1/metadata/x509/{email}"
    gate = serve(SignedUrlGate({"uploads": uploads_uri}, certs, now=clock))
    for key, value in {
        "ASSAY_UPLOADS_URI": uploads_uri,
        "ASSAY_UPLOAD_SIGNER": API_SA,
        "ASSAY_IAM_ENDPOINT": metadata.url,
        "ASSAY_SIGNED_URL_ENDPOINT": gate.url,
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body())
    assert created.status_code == 201, created.get_json()
    return api


def grant(api, **fields):
    body = {"filename": "people.json", "content_type": "application/json"}
    body.update(fields)
    body.setdefault("size_bytes", len(DOC))
    return api.post(f"/v1/orgs/{api.org}/workflows/people/uploads", json=body)


def put(granted, data=DOC, **header_changes):
    headers = {**granted["headers"], **header_changes}
    return requests.put(granted["url"], data=data, headers=headers, timeout=30)


def deliver(uri: str) -> uploads.UploadResult:
    """What Eventarc would hand the trigger for the object now at `uri`."""
    described = LocalBlobStore().describe(path_of(uri))
    name = uri.split("/uploads/", 1)[1]
    resource = object_resource(
        "uploads",
        name,
        described.generation,
        described.size,
        described.content_type,
        described.metadata,
        datetime.now(UTC),
    )
    return uploads.receive_upload(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        uploads.UploadedObject.model_validate(resource),
    )


def test_a_granted_url_takes_the_file_and_the_trigger_makes_it_a_run(signed):
    answer = grant(signed, project_id=None, user="ada@example.com", metadata={"batch": "7"})
    assert answer.status_code == 201, answer.get_json()
    granted = answer.get_json()
    assert granted["method"] == "PUT" and granted["object_name"].startswith(f"{signed.org}/people/")
    assert urlsplit(granted["url"]).query.count("X-Goog-Signature=") == 1
    assert signed.get(granted["status_url"]).status_code == 404  # nothing sent yet

    stored = put(granted)
    assert stored.status_code == 200, stored.text
    uri = f"{get_settings().uploads_uri}/{granted['object_name']}"
    assert path_of(uri).read_bytes() == DOC
    result = deliver(uri)
    assert result.outcome is uploads.UploadOutcome.ACCEPTED

    status = signed.get(granted["status_url"])
    assert status.status_code == 200
    seen = status.get_json()
    assert (seen["status"], seen["run_id"], seen["upload_id"]) == (
        "ACCEPTED",
        result.run_id,
        granted["upload_id"],
    )
    run = signed.get(f"/v1/orgs/{signed.org}/runs/{result.run_id}").get_json()
    submission = signed.repos.submissions.get(signed.org, run["submission_id"])
    assert (submission.original_filename, submission.size_bytes) == ("people.json", len(DOC))
    assert submission.metadata == {"batch": "7"}
    assert run["user"] == "ada@example.com"
    assert submission.api_key_id is not None


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"Content-Type": "application/xml"}, 403, "SignatureDoesNotMatch"),
        ({"x-goog-meta-user": "mallory"}, 403, "SignatureDoesNotMatch"),
        ({"x-goog-meta-project-id": "elsewhere"}, 403, "SignatureDoesNotMatch"),
        ({"x-goog-if-generation-match": "1"}, 403, "SignatureDoesNotMatch"),
    ],
    ids=["content-type", "signed-user", "unsigned-metadata", "precondition"],
)
def test_a_changed_signed_header_is_refused(signed, change, status, code):
    granted = grant(signed, user="ada@example.com").get_json()
    refused = put(granted, **change)
    assert (refused.status_code, f"<Code>{code}</Code>" in refused.text) == (status, True)
    assert not path_of(f"{get_settings().uploads_uri}/{granted['object_name']}").exists()


def test_the_url_names_one_object_once_and_only_its_size(signed):
    granted = grant(signed).get_json()
    elsewhere = granted["url"].replace("/people.json?", "/other.json?")
    assert (
        requests.put(elsewhere, data=DOC, headers=granted["headers"], timeout=30).status_code == 403
    )
    bigger = put(granted, data=DOC + b" ")
    assert bigger.status_code == 400 and "EntityTooLarge" in bigger.text
    assert put(granted).status_code == 200
    again = put(granted)
    assert again.status_code == 412 and "PreconditionFailed" in again.text


def test_an_expired_url_is_refused(signed, clock):
    granted = grant(signed).get_json()
    clock.skew = timedelta(seconds=get_settings().signed_url_seconds + 1)
    expired = put(granted)
    assert expired.status_code == 400 and "ExpiredToken" in expired.text


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"filename": "people.xml", "content_type": "application/xml"}, 415, "accepts"),
        ({"size_bytes": 5 * 1024**3 + 1}, 413, "at most 5368709120"),
        ({"filename": "../people.json"}, 422, "plain name"),
        ({"size_bytes": 0}, 422, "size_bytes"),
        ({"metadata": {"bad_key": "x"}}, 422, "metadata key"),
        ({"project_id": "nope"}, 422, "project_id"),
    ],
    ids=["type", "too-big", "path", "empty", "metadata", "project"],
)
def test_a_file_the_workflow_would_refuse_gets_no_url(signed, fields, status, words):
    refused = grant(signed, **fields)
    assert refused.status_code == status, refused.get_json()
    assert refused.content_type == "application/problem+json"
    assert words in refused.get_json()["detail"]


def test_a_big_file_is_granted_and_the_body_limit_stays_small(signed):
    big = get_settings().max_upload_bytes + 1
    assert grant(signed, size_bytes=big).status_code == 201
    direct = signed.post(
        f"/v1/orgs/{signed.org}/workflows/people/runs",
        data=b"{" + b" " * big + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert direct.status_code == 413
    assert "/uploads" in direct.get_json()["detail"]


def test_another_orgs_grant_and_workflow_are_not_found(signed):
    granted = grant(signed).get_json()
    assert put(granted).status_code == 200
    delivered = deliver(f"{get_settings().uploads_uri}/{granted['object_name']}")
    assert delivered.outcome is uploads.UploadOutcome.ACCEPTED
    assert signed.get(granted["status_url"]).status_code == 200  # its own org sees it
    from tests.factories import make_org

    other, key = make_org(signed.repos, "other")
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        signed.client.get(
            f"/v1/orgs/{other}/uploads/{granted['upload_id']}", headers=headers
        ).status_code
        == 404
    )
    refused = signed.client.post(
        f"/v1/orgs/{other}/workflows/people/uploads",
        json={"filename": "people.json", "size_bytes": 3},
        headers=headers,
    )
    assert refused.status_code == 404


def test_a_url_used_again_after_its_object_went_makes_no_second_run(signed):
    granted = grant(signed).get_json()
    uri = f"{get_settings().uploads_uri}/{granted['object_name']}"
    assert put(granted).status_code == 200
    first = deliver(uri)
    assert first.outcome is uploads.UploadOutcome.ACCEPTED
    assert not path_of(uri).exists()  # the run has its copy; the trigger let it go
    assert put(granted).status_code == 200  # the URL is still within its time
    second = deliver(uri)
    assert second.outcome is uploads.UploadOutcome.REJECTED
    assert "already used" in (second.reason or "")
    assert not path_of(uri).exists()
    seen = signed.get(granted["status_url"]).get_json()
    assert (seen["status"], seen["run_id"]) == ("ACCEPTED", first.run_id)


def test_an_upload_asked_for_by_a_key_since_revoked_is_refused(signed):
    granted = grant(signed).get_json()
    key_id = signed.key.split("_")[1]
    signed.repos.keys.revoke(signed.org, key_id, datetime.now(UTC))
    assert put(granted).status_code == 200
    result = deliver(f"{get_settings().uploads_uri}/{granted['object_name']}")
    assert result.outcome is uploads.UploadOutcome.REJECTED
    assert "revoked" in (result.reason or "")


def test_an_encoded_object_is_refused_whatever_its_size(signed):
    granted = grant(signed).get_json()
    assert put(granted).status_code == 200
    uri = f"{get_settings().uploads_uri}/{granted['object_name']}"
    described = LocalBlobStore().describe(path_of(uri))
    resource = object_resource(
        "uploads",
        granted["object_name"],
        described.generation,
        described.size,
        described.content_type,
        described.metadata,
        datetime.now(UTC),
    )
    result = uploads.receive_upload(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        uploads.UploadedObject.model_validate({**resource, "contentEncoding": "gzip"}),
    )
    assert result.outcome is uploads.UploadOutcome.REJECTED
    assert "content encoding" in (result.reason or "")


@pytest.mark.firestore
def test_an_org_at_its_runs_in_flight_gets_no_url_and_a_granted_upload_waits(signed, monkeypatch):
    """A signed URL is a way in to the job path like any submission (decision record
    0029): at the org's runs in flight, 429 at the grant; a URL granted before, used
    once the org is at its limit, waits for a later delivery (Transient: Eventarc's
    retry) and becomes a run when there is room."""
    monkeypatch.setenv("ASSAY_ORG_RUNS_IN_FLIGHT", "1")
    wiring.reset()
    first, second = grant(signed).get_json(), grant(signed).get_json()
    for granted in (first, second):
        assert put(granted).status_code == 200
    uris = [f"{get_settings().uploads_uri}/{g['object_name']}" for g in (first, second)]
    accepted = deliver(uris[0])
    assert accepted.outcome is uploads.UploadOutcome.ACCEPTED

    refused = grant(signed)
    assert refused.status_code == 429 and refused.content_type == "application/problem+json"
    assert refused.headers["Retry-After"] == "5"
    assert "1 runs in flight" in refused.get_json()["detail"]
    with pytest.raises(Transient) as waits:
        deliver(uris[1])
    assert waits.value.status == 503 and "waits for a later delivery" in waits.value.detail
    assert signed.get(second["status_url"]).status_code == 404  # nothing recorded
    assert path_of(uris[1]).exists()

    runs = signed.repos.db.collection("runs")
    runs.document(accepted.run_id).update({"status": "SUCCEEDED"})
    later = deliver(uris[1])
    assert later.outcome is uploads.UploadOutcome.ACCEPTED
    assert signed.get(second["status_url"]).get_json()["status"] == "ACCEPTED"
    assert grant(signed).status_code == 429  # the second run is in flight now
