"""Who may upload for an org is decided, not assumed (decision record 0025), on a local
folder and on the storage emulator: the api records each signed-URL grant and the
trigger takes a `{org}/{workflow}/{upload id}/{file}` object only on that record's
word; a direct `{org}/{workflow}/{file}` write is allowed by the bucket's IAM policy
(the gate's stand-in) only for the org's uploaders, and the trigger takes none for an
org that has none. Object metadata is a label, never an identity."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from devstack.metadata_server import MetadataServer
from devstack.signed_url_gate import STORAGE_AUDIENCE, SignedUrlGate
from devstack.storage_emulator import StorageEmulator
from devstack.upload_notifier import object_resource
from shared import wiring
from shared.adapters.bucket_iam import StorageBucketIam
from shared.adapters.storage import BlobNotFound, open_store
from shared.adapters.storage.layout import UploadsLayout
from shared.adapters.storage.local import LocalBlobStore, path_of
from shared.platform.config import get_settings
from shared.platform.ids import new_id
from shared.services import uploaders, uploads, workflows
from shared.services.uploaders import ROLE
from tests.factories import make_org, workflow_body

API_SA = "assay-api@assay-test.iam.gserviceaccount.com"
PIPELINE_A = "pipeline-a@customer.iam.gserviceaccount.com"
PIPELINE_B = "pipeline-b@customer.iam.gserviceaccount.com"
STRANGER = "stranger@elsewhere.iam.gserviceaccount.com"
DOC = json.dumps({"name": "Ada", "age": 36}).encode()


@pytest.fixture(scope="module")
def storage_emulator() -> Any:
    emulator = StorageEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(params=["file", "gcs"])
def world(request, api, serve, monkeypatch, tmp_path) -> SimpleNamespace:
    """Org A (the api harness's) and org B, each with a `people` workflow; the gate in
    front of the uploads location, answering signed URLs, direct writes and IAM."""
    if request.param == "file":
        uploads_uri = (tmp_path / "uploads").as_uri()
    else:
        emulator = request.getfixturevalue("storage_emulator")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        suffix = uuid.uuid4().hex[:8]
        for bucket in (f"content-{suffix}", f"uploads-{suffix}"):
            emulator.create_bucket(bucket)
        monkeypatch.setenv("ASSAY_STORAGE_URI", f"gs://content-{suffix}")
        uploads_uri = f"gs://uploads-{suffix}"
    metadata = MetadataServer([API_SA, PIPELINE_A, PIPELINE_B, STRANGER], API_SA, "assay-test")
    meta = serve(metadata)
    layout = UploadsLayout(uploads_uri)
    gate = serve(
        SignedUrlGate(
            {layout.bucket: uploads_uri},
            meta.url + "/service_accounts/v1/metadata/x509/{email}",
            id_certs_url=meta.url + "/oauth2/v1/certs",
        )
    )
    for key, value in {
        "ASSAY_UPLOADS_URI": uploads_uri,
        "ASSAY_UPLOAD_SIGNER": API_SA,
        "ASSAY_IAM_ENDPOINT": meta.url,
        "ASSAY_SIGNED_URL_ENDPOINT": gate.url,
        "ASSAY_STORAGE_IAM_ENDPOINT": gate.url,
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    repos = wiring.repositories()
    org_b, key_b = make_org(repos, "other")
    for org in (api.org, org_b):
        workflows.create_workflow(
            repos, org, workflows.WorkflowCreate.model_validate(workflow_body("people"))
        )
    return SimpleNamespace(
        api=api,
        repos=repos,
        a=api.org,
        b=org_b,
        key_b=key_b,
        layout=layout,
        gate=gate,
        metadata=metadata,
        iam=StorageBucketIam(layout.bucket, gate.url),
    )


def store() -> Any:
    return open_store(get_settings().uploads_uri)


def describe(world: SimpleNamespace, name: str) -> dict[str, Any]:
    """The object resource Eventarc would deliver for the object now under `name`."""
    if world.layout.root.startswith("file://"):
        found = LocalBlobStore().describe(path_of(world.layout.object_uri(name)))
        generation, size = found.generation, found.size
        content_type, metadata = found.content_type, found.metadata
    else:
        blob = store().client.bucket(world.layout.bucket).get_blob(name)
        generation, size = blob.generation, blob.size
        content_type, metadata = blob.content_type, dict(blob.metadata or {})
    resource: dict[str, Any] = object_resource(
        world.layout.bucket, name, generation, size, content_type, metadata, datetime.now(UTC)
    )
    return resource


def deliver(world: SimpleNamespace, name: str, **changes: str) -> uploads.UploadResult:
    return uploads.receive_upload(
        wiring.repositories(),
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        uploads.UploadedObject.model_validate({**describe(world, name), **changes}),
    )


def direct_put(world: SimpleNamespace, name: str, as_: str | None, **headers: str) -> Any:
    """A write with the writer's own credentials, as `gcloud storage cp` makes one."""
    if as_ is not None:
        token = world.metadata.minter.mint(as_, STORAGE_AUDIENCE)
        headers["Authorization"] = f"Bearer {token}"
    url = f"{world.gate.url}/{world.layout.bucket}/{name}"
    return requests.put(url, data=DOC, headers=headers, timeout=30)


def planted(name: str, **metadata: str) -> None:
    """An object written past every rule (a bucket owner's hand): what the trigger sees
    decides alone."""
    store().write_bytes(
        UploadsLayout(get_settings().uploads_uri).object_uri(name),
        DOC,
        "application/json",
        metadata=metadata,
    )


def exists(name: str) -> bool:
    try:
        store().read_bytes(UploadsLayout(get_settings().uploads_uri).object_uri(name))
    except BlobNotFound:
        return False
    return True


def granted(world: SimpleNamespace) -> dict[str, Any]:
    body = {"filename": "people.json", "content_type": "application/json", "size_bytes": len(DOC)}
    answer = world.api.post(f"/v1/orgs/{world.a}/workflows/people/uploads", json=body)
    assert answer.status_code == 201, answer.get_json()
    grant: dict[str, Any] = answer.get_json()
    sent = requests.put(grant["url"], data=DOC, headers=grant["headers"], timeout=30)
    assert sent.status_code == 200, sent.text
    return grant


def runs(world: SimpleNamespace) -> list[Any]:
    return list(world.repos.db.collection("runs").stream())


def test_a_writer_allowed_for_org_a_cannot_start_a_run_in_org_b(world):
    uploaders.add_uploader(
        world.repos, world.iam, world.layout.bucket, world.a, f"serviceAccount:{PIPELINE_A}"
    )
    uploaders.add_uploader(
        world.repos, world.iam, world.layout.bucket, world.b, f"serviceAccount:{PIPELINE_B}"
    )
    refused = direct_put(world, f"{world.b}/people/x.json", PIPELINE_A)
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text
    assert not exists(f"{world.b}/people/x.json")
    # Its own org's folder takes it, and the run is org A's, asked for by no key.
    name = f"{world.a}/people/x.json"
    assert (
        direct_put(world, name, PIPELINE_A, **{"x-goog-meta-api-key-id": "forged"}).status_code
        == 200
    )
    # Nor may it replace an object already there (creating is all its role allows).
    assert direct_put(world, name, PIPELINE_A).status_code == 403
    result = deliver(world, name)
    assert result.outcome is uploads.UploadOutcome.ACCEPTED, result.reason
    run = world.repos.runs.get(world.a, result.run_id)
    assert world.repos.submissions.get(world.a, run.submission_id).api_key_id is None


@pytest.mark.firestore
def test_an_unlisted_writer_starts_no_run(world):
    uploaders.add_uploader(
        world.repos, world.iam, world.layout.bucket, world.a, f"serviceAccount:{PIPELINE_A}"
    )
    for who in (STRANGER, None):
        answer = direct_put(world, f"{world.a}/people/{who}.json", who)
        assert answer.status_code == 403, (who, answer.text)
        assert not exists(f"{world.a}/people/{who}.json")
    assert runs(world) == []


@pytest.mark.firestore
def test_a_direct_write_into_an_org_with_no_uploaders_is_rejected_and_deleted(world):
    name = f"{world.b}/people/dropped.json"
    planted(name, user="ada@example.com")
    result = deliver(world, name)
    assert result.outcome is uploads.UploadOutcome.REJECTED
    assert "has no uploaders" in (result.reason or "")
    event = world.repos.uploads.find_event(result.event_id)
    assert event.status == "REJECTED"
    assert event.expire_at - event.created_at == timedelta(days=30)  # Firestore's TTL
    assert not exists(name) and runs(world) == []


@pytest.mark.firestore
@pytest.mark.parametrize("shape", ["fake-upload-id", "other-filename", "other-filename-gzip"])
def test_a_forged_grant_object_is_rejected_whatever_its_metadata_says(world, shape):
    grant = granted(world)  # org A's real grant, asked for by org A's key
    key_id = world.api.key.split("_")[1]
    upload_id = new_id() if shape == "fake-upload-id" else grant["upload_id"]
    name = f"{world.a}/people/{upload_id}/forged.json"
    # Metadata naming a key (org B's, or org A's own) vouches for nothing.
    named = world.key_b.split("_")[1] if shape == "fake-upload-id" else key_id
    planted(name, **{"api-key-id": named, "user": "ada@example.com"})
    # Refused for its name even where something else (its encoding) is wrong too.
    encoding = {"contentEncoding": "gzip"} if shape.endswith("gzip") else {}
    result = deliver(world, name, **encoding)
    assert result.outcome is uploads.UploadOutcome.REJECTED
    assert "no upload URL was granted for this object name" in (result.reason or "")
    assert not exists(name) and runs(world) == []
    # The real grant's object is untouched and still becomes its run.
    real = deliver(world, grant["object_name"])
    assert real.outcome is uploads.UploadOutcome.ACCEPTED, real.reason
    run = world.repos.runs.get(world.a, real.run_id)
    assert world.repos.submissions.get(world.a, run.submission_id).api_key_id == key_id


@pytest.mark.parametrize("suffix", ["#x.json", "#1", "?x.json", "%23x.json", " ", "\n.json"])
def test_a_hostile_name_leaves_the_victims_object_and_run_untouched(world, suffix):
    grant = granted(world)  # the victim's object, sent and not yet claimed
    name = grant["object_name"] + suffix
    planted(name)
    assert deliver(world, name).outcome is uploads.UploadOutcome.REJECTED
    assert not exists(name) and exists(grant["object_name"])
    victim = deliver(world, grant["object_name"])
    assert victim.outcome is uploads.UploadOutcome.ACCEPTED, victim.reason
    before = world.repos.runs.get(world.a, victim.run_id)
    # Once its run holds it, another hostile object leaves the run's file alone too.
    planted(name + "2")
    assert deliver(world, name + "2").outcome is uploads.UploadOutcome.REJECTED
    submission = world.repos.submissions.get(world.a, before.submission_id)
    assert store().read_bytes(submission.input_file) == DOC
    assert world.repos.runs.get(world.a, victim.run_id).model_dump() == before.model_dump()


def test_a_grant_is_recorded_with_everything_the_trigger_trusts(world):
    grant = granted(world)
    record = world.repos.uploads.find_grant(grant["upload_id"])
    assert record is not None
    assert (record.org_id, record.workflow_slug, record.filename, record.object_name) == (
        world.a,
        "people",
        "people.json",
        grant["object_name"],
    )
    assert record.api_key_id == world.api.key.split("_")[1]
    assert record.expires_at == datetime.fromisoformat(grant["expires_at"])
    assert record.expire_at - record.created_at == timedelta(days=30)


@pytest.mark.firestore
def test_concurrent_deliveries_of_a_granted_object_make_one_run(world):
    grant = granted(world)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: deliver(world, grant["object_name"]), range(6)))
    accepted = [r for r in results if r.outcome is uploads.UploadOutcome.ACCEPTED]
    assert len(accepted) == 1 and len(runs(world)) == 1
    assert {r.run_id for r in results} == {accepted[0].run_id}


@pytest.mark.parametrize(
    ("path", "why"),
    [("%FF.json", "UTF-8"), ("a%0Ab.json", "CR or LF"), ("x" * 1000 + ".json", "1,024 bytes")],
    ids=["not-utf8", "newline", "too-long"],
)
def test_the_gate_refuses_names_cloud_storage_would(world, path, why):
    uploaders.add_uploader(
        world.repos, world.iam, world.layout.bucket, world.a, f"serviceAccount:{PIPELINE_A}"
    )
    answer = direct_put(world, f"{world.a}/people/{path}", PIPELINE_A)
    assert answer.status_code == 400 and "InvalidObjectName" in answer.text and why in answer.text


def _policy(world: SimpleNamespace) -> list[dict[str, Any]]:
    url = f"{world.gate.url}/storage/v1/b/{world.layout.bucket}/iam"
    answer = requests.get(url, params={"optionsRequestedPolicyVersion": "3"}, timeout=10)
    assert answer.status_code == 200
    return list(answer.json()["bindings"])


def test_cli_add_list_remove_round_trip_against_the_stand_in(world, tmp_path: Path, monkeypatch):
    from cli.main import main

    monkeypatch.setenv("ASSAY_LOCAL_DIR", str(tmp_path))
    get_settings.cache_clear()
    cli = CliRunner()
    member = f"serviceAccount:{PIPELINE_A}"

    def run(*args: str) -> Any:
        return cli.invoke(main, ["admin", "uploaders", *args, "--json"])

    added = run("add", "--org", world.a, member)
    assert added.exit_code == 0, added.output
    assert run("add", "--org", world.a, member).exit_code == 0  # again: no second binding
    [binding] = _policy(world)
    assert (binding["role"], binding["members"]) == (ROLE, [member])
    assert binding["condition"]["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/{world.layout.bucket}/objects/{world.a}/")'
    )
    assert world.a in binding["condition"]["title"]
    listed = json.loads(run("list", "--org", world.a).output)
    assert [u["member"] for u in listed["uploaders"]] == [member]
    assert direct_put(world, f"{world.a}/people/cli.json", PIPELINE_A).status_code == 200

    removed = run("remove", "--org", world.a, member)
    assert removed.exit_code == 0 and json.loads(removed.output)["removed"] is True
    assert _policy(world) == []
    assert json.loads(run("list", "--org", world.a).output) == {"uploaders": []}
    assert direct_put(world, f"{world.a}/people/late.json", PIPELINE_A).status_code == 403


@pytest.mark.parametrize(
    "member",
    ["pipeline@x.iam.gserviceaccount.com", "serviceAccount:", "user:a b@c.d", "owner:x@y.z"],
)
def test_cli_refuses_a_member_that_is_not_a_google_identity(world, tmp_path, monkeypatch, member):
    from cli.main import main

    monkeypatch.setenv("ASSAY_LOCAL_DIR", str(tmp_path))
    answer = CliRunner().invoke(
        main, ["admin", "uploaders", "add", "--org", world.a, member, "--json"]
    )
    assert answer.exit_code == 2
    assert "is not a Google identity" in json.loads(answer.output)["error"]
    assert _policy(world) == []
