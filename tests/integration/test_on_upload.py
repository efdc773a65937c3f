"""The `on_upload` CloudEvent function (functions-framework's own test client) on the
Firestore emulator, the Cloud Tasks stand-in and `file://` uploads: CloudEvents are built
with the cloudevents SDK, in binary and structured mode, with ID tokens from the
metadata stand-in, as Eventarc delivers them."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from functions_framework import create_app

from devstack.metadata_server import MetadataServer
from devstack.upload_notifier import object_resource
from shared import wiring
from shared.adapters.storage.layout import Layout, UploadsLayout
from shared.adapters.storage.local import LocalBlobStore, path_of
from shared.persistence.ports import Uploader
from shared.platform.config import get_settings
from shared.services import workflows
from tests.factories import make_org, workflow_body

EVENTARC = "assay-eventarc@assay-test.iam.gserviceaccount.com"
STRANGER = "someone@assay-test.iam.gserviceaccount.com"
UPLOAD_URL = "https://on-upload-123456789.us-central1.run.app"
VALID = b'{"name": "Ada", "email": "ada@example.com"}'


@dataclass
class Harness:
    client: Any
    metadata: MetadataServer
    repos: Any
    org: str
    layout: UploadsLayout

    def put(self, name: str, data: bytes = VALID, content_type: str = "application/json", **md):
        store = LocalBlobStore()
        generation = store.write_bytes(
            self.layout.object_uri(name), data, content_type, metadata=md
        )
        return object_resource(
            self.layout.bucket, name, generation, len(data), content_type, md, datetime.now(UTC)
        )

    def token(self, email: str = EVENTARC, audience: str = UPLOAD_URL) -> str:
        return self.metadata.minter.mint(email, audience)

    def deliver(self, data: dict[str, Any], *, structured: bool = False, token: str | None = ""):
        event = CloudEvent(
            {
                "type": "google.cloud.storage.object.v1.finalized",
                "source": f"//storage.googleapis.com/projects/_/buckets/{data['bucket']}",
                "subject": f"objects/{data['name']}",
                "datacontenttype": "application/json",
            },
            data,
        )
        headers, body = (to_structured if structured else to_binary)(event)
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.token()}"
        return self.client.post("/", headers=headers, data=body)

    def runs(self) -> list[Any]:
        return list(self.repos.db.collection("runs").stream())


@pytest.fixture
def harness(repos, dispatcher, serve, monkeypatch, tmp_path) -> Harness:
    metadata = MetadataServer([EVENTARC, STRANGER], EVENTARC, "assay-test")
    certs = serve(metadata).url + "/oauth2/v1/certs"
    uploads = (tmp_path / "uploads").as_uri()
    for key, value in {
        "ASSAY_CERTS_URL": certs,
        "ASSAY_UPLOAD_URL": UPLOAD_URL,
        "ASSAY_UPLOAD_INVOKERS": EVENTARC,
        "ASSAY_UPLOADS_URI": uploads,
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    org, _ = make_org(wiring.repositories())
    # These objects are written directly, as an uploader of the org writes them (Cloud
    # Storage's IAM conditions, not this trigger, say who that may be).
    wiring.repositories().uploads.add_uploader(
        Uploader(org_id=org, member=f"serviceAccount:{STRANGER}", created_at=datetime.now(UTC))
    )
    body = workflows.WorkflowCreate.model_validate(workflow_body("people"))
    workflows.create_workflow(wiring.repositories(), org, body)
    client = create_app(target="on_upload", source="functions/main.py").test_client()
    return Harness(client, metadata, wiring.repositories(), org, UploadsLayout(uploads))


def test_a_binary_event_becomes_a_submission_referencing_the_object(harness, dispatcher):
    data = harness.put(f"{harness.org}/people/ada.json", user="ada@example.com", batch="nightly")
    assert isinstance(data["generation"], str) and isinstance(data["size"], str)
    assert harness.deliver(data).status_code == 200
    [snap] = harness.runs()
    run = harness.repos.runs.get(harness.org, snap.id)
    submission = harness.repos.submissions.get(harness.org, run.submission_id)
    # The run reads a copy in the content location; the drop zone keeps nothing.
    event_id = harness.repos.uploads.event_id(data["bucket"], data["name"], int(data["generation"]))
    assert submission.input_file == Layout(get_settings().storage_uri).claimed_upload(
        harness.org, event_id, "ada.json"
    )
    assert path_of(submission.input_file).read_bytes() == VALID
    assert not path_of(harness.layout.object_uri(data["name"])).exists()
    assert submission.content is None  # referenced, not copied into Firestore
    assert submission.checksum_sha256 == hashlib.sha256(VALID).hexdigest()
    assert (submission.size_bytes, submission.original_filename) == (len(VALID), "ada.json")
    assert (submission.user, run.user, submission.api_key_id) == (
        "ada@example.com",
        "ada@example.com",
        None,
    )
    assert submission.metadata == {"batch": "nightly"}
    assert (run.status, run.workflow_slug) == ("PENDING", "people")
    [task] = dispatcher.tasks.values()
    assert f'"run_id": "{run.id}"' in task.body.decode()
    event = harness.repos.uploads.get_event(
        harness.org,
        harness.repos.uploads.event_id(data["bucket"], data["name"], data["generation"]),
    )
    assert (event.status, event.run_id, event.submission_id) == ("ACCEPTED", run.id, submission.id)


def test_a_structured_event_is_accepted_too(harness):
    data = harness.put(f"{harness.org}/people/structured.json")
    assert harness.deliver(data, structured=True).status_code == 200
    assert len(harness.runs()) == 1


def test_a_project_named_in_the_metadata_must_be_the_orgs(harness):
    data = harness.put(f"{harness.org}/people/p.json", project_id="nope")
    assert harness.deliver(data).status_code == 200
    assert harness.runs() == []
    event = harness.repos.uploads.find_event(
        harness.repos.uploads.event_id(data["bucket"], data["name"], int(data["generation"]))
    )
    assert (event.status, "not a project" in event.reason) == ("REJECTED", True)


@pytest.mark.firestore
def test_repeated_deliveries_create_nothing_new(harness, dispatcher):
    data = harness.put(f"{harness.org}/people/twice.json")
    assert harness.deliver(data).status_code == 200
    assert harness.deliver(data, structured=True).status_code == 200
    assert len(harness.runs()) == 1
    assert len(list(harness.repos.db.collection("submissions").stream())) == 1
    assert len(dispatcher.tasks) == 1  # the replay's re-queue is the same named task


@pytest.mark.firestore
def test_concurrent_duplicate_deliveries_make_one_run(harness):
    data = harness.put(f"{harness.org}/people/burst.json")
    tokens = [harness.token() for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda t: harness.deliver(data, token=t).status_code, tokens))
    assert statuses == [200] * 8
    assert len(harness.runs()) == 1
    assert len(list(harness.repos.db.collection("upload_events").stream())) == 1


def test_a_new_generation_under_the_same_name_is_a_new_submission(harness):
    name = f"{harness.org}/people/again.json"
    assert harness.deliver(harness.put(name)).status_code == 200
    assert harness.deliver(harness.put(name, b'{"name": "Grace"}')).status_code == 200
    assert len(harness.runs()) == 2


@pytest.mark.parametrize(
    ("name", "content_type", "reason"),
    [
        ("{org}/people", "application/json", "must be {org}/{workflow}/{filename}"),
        ("{org}/people/deep/x.json", "application/json", "must be {org}/{workflow}/{filename}"),
        ("unknown-org/people/x.json", "application/json", "organization 'unknown-org'"),
        ("{org}/missing/x.json", "application/json", "workflow 'missing' does not exist"),
        ("{org}/people/x.xml", "application/xml", "accepts ['json']"),
    ],
)
def test_an_upload_that_cannot_become_a_run_is_refused_recorded_and_deleted(
    harness, name, content_type, reason
):
    data = harness.put(name.format(org=harness.org), content_type=content_type)
    response = harness.deliver(data)
    assert response.status_code == 200  # acknowledged: a retry cannot help
    assert harness.runs() == []
    event_id = harness.repos.uploads.event_id(data["bucket"], data["name"], int(data["generation"]))
    event = harness.repos.uploads.find_event(event_id)
    assert event.status == "REJECTED" and reason in event.reason
    uri = harness.layout.object_uri(data["name"])
    assert not path_of(uri).exists()  # no content kept that will not be processed


def test_an_oversized_upload_is_refused_by_the_object_limit_not_the_apis(harness, monkeypatch):
    monkeypatch.setenv("ASSAY_MAX_UPLOAD_BYTES", "10")  # the API's body limit: not for uploads
    wiring.reset()
    fits = harness.put(f"{harness.org}/people/fits.json")
    assert harness.deliver(fits).status_code == 200
    monkeypatch.setenv("ASSAY_MAX_OBJECT_BYTES", "10")
    wiring.reset()
    data = harness.put(f"{harness.org}/people/big.json")
    assert harness.deliver(data).status_code == 200
    events = [
        harness.repos.uploads.find_event(
            harness.repos.uploads.event_id(d["bucket"], d["name"], int(d["generation"]))
        )
        for d in (fits, data)
    ]
    assert [e.status for e in events] == ["ACCEPTED", "REJECTED"]
    assert "at most 10" in events[1].reason


def test_an_object_gone_before_delivery_is_acknowledged(harness):
    data = harness.put(f"{harness.org}/people/gone.json")
    path_of(harness.layout.object_uri(data["name"])).unlink()
    assert harness.deliver(data).status_code == 200
    assert harness.runs() == []


def test_a_malformed_event_is_acknowledged_not_retried_forever(harness):
    data = harness.put(f"{harness.org}/people/m.json")
    data["generation"] = "not-a-number"
    assert harness.deliver(data).status_code == 200
    assert harness.runs() == []


def test_an_event_of_another_bucket_is_ignored(harness):
    data = harness.put(f"{harness.org}/people/b.json")
    data["bucket"] = "someone-elses"
    assert harness.deliver(data).status_code == 200
    assert harness.runs() == []
    assert path_of(harness.layout.object_uri(data["name"])).exists()


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        ("not-a-jwt", 401),
        ("wrong-audience", 401),
        ("stranger", 403),
    ],
)
def test_only_the_trigger_identity_may_call(harness, token, status):
    data = harness.put(f"{harness.org}/people/auth.json")
    tokens = {
        None: None,
        "not-a-jwt": "abc.def.ghi",
        "wrong-audience": harness.token(audience="https://launch-1.us-central1.run.app"),
        "stranger": harness.token(email=STRANGER),
    }
    response = harness.deliver(data, token=tokens[token])
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert harness.runs() == []


def test_eventarc_may_use_this_services_own_run_app_url_as_audience(harness, monkeypatch):
    monkeypatch.setenv("K_SERVICE", "on-upload")
    data = harness.put(f"{harness.org}/people/aud.json")
    mine = harness.token(audience="https://on-upload-abcdef123-uc.a.run.app")
    assert harness.deliver(data, token=mine).status_code == 200
    theirs = harness.token(audience="https://launch-abcdef123-uc.a.run.app")
    assert (
        harness.deliver(harness.put(f"{harness.org}/people/x.json"), token=theirs).status_code
        == 401
    )
    assert len(harness.runs()) == 1


def test_a_failed_enqueue_answers_503_and_the_retried_delivery_heals_it(
    harness, dispatcher, monkeypatch
):
    data = harness.put(f"{harness.org}/people/retry.json")
    good = get_settings().tasks_endpoint
    monkeypatch.setenv("ASSAY_TASKS_ENDPOINT", "http://127.0.0.1:9")  # Cloud Tasks is down
    wiring.reset()
    first = harness.deliver(data)
    assert first.status_code == 503 and first.mimetype == "application/problem+json"
    assert len(harness.runs()) == 1 and dispatcher.tasks == {}
    monkeypatch.setenv("ASSAY_TASKS_ENDPOINT", good)
    wiring.reset()
    assert harness.deliver(data).status_code == 200  # Eventarc's retry
    assert len(harness.runs()) == 1
    assert len(dispatcher.tasks) == 1


def test_an_org_at_its_runs_in_flight_has_its_upload_delivered_again_later(harness, monkeypatch):
    """Over its limit an upload is transient (decision record 0029): 503, so Eventarc
    delivers it again, and nothing is recorded, copied or deleted meanwhile; an object
    that can never be a run is still refused at once."""
    monkeypatch.setenv("ASSAY_ORG_RUNS_IN_FLIGHT", "1")
    wiring.reset()
    assert harness.deliver(harness.put(f"{harness.org}/people/first.json")).status_code == 200
    waiting = harness.put(f"{harness.org}/people/second.json")
    answer = harness.deliver(waiting)
    assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
    assert "1 runs in flight" in answer.get_json()["detail"]
    assert answer.headers["Retry-After"] == "5"
    event_id = harness.repos.uploads.event_id(
        waiting["bucket"], waiting["name"], int(waiting["generation"])
    )
    assert harness.repos.uploads.find_event(event_id) is None
    assert path_of(harness.layout.object_uri(waiting["name"])).exists()  # not claimed
    assert len(harness.runs()) == 1
    refused = harness.put(f"{harness.org}/people/third.xml", b"<a/>", "application/xml")
    assert harness.deliver(refused).status_code == 200  # refused for good, not retried
    assert not path_of(harness.layout.object_uri(refused["name"])).exists()

    harness.runs()[0].reference.update({"status": "SUCCEEDED"})  # room for one more
    assert harness.deliver(waiting).status_code == 200  # Eventarc's next delivery
    assert len(harness.runs()) == 2
    assert not path_of(harness.layout.object_uri(waiting["name"])).exists()
