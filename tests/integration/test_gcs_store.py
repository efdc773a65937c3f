"""The `gs://` blob store (the real google-cloud-storage client) against gcp-storage-emulator.

Every request goes through a recording proxy, so the tests see what the client sends.
The emulator ignores generation preconditions (`ifGenerationMatch`) and pinned
generations (`generation=`, `sourceGeneration=`): it would overwrite, read or delete
the live object regardless. So these tests assert that the requests carry them, and
stand in for Cloud Storage's answer (412, 404) with the proxy where the mapping of
that answer matters.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from devstack.storage_emulator import StorageEmulator
from shared.adapters.storage import BlobExists, BlobNotFound
from shared.adapters.storage.gcs import GcsBlobStore, pinned_uri
from tests.recording_proxy import RecordingProxy

PRECONDITION_FAILED = json.dumps(
    {"error": {"code": 412, "message": "At least one of the pre-conditions did not hold."}}
)


@pytest.fixture(scope="session")
def storage_emulator():
    emulator = StorageEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def gcs(storage_emulator, serve, monkeypatch):
    proxy = RecordingProxy(storage_emulator.url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", serve(proxy).url)
    content, uploads = f"content-{uuid.uuid4().hex[:8]}", f"uploads-{uuid.uuid4().hex[:8]}"
    for bucket in (content, uploads):
        storage_emulator.create_bucket(bucket)
    store = GcsBlobStore()
    yield SimpleNamespace(store=store, proxy=proxy, content=content, uploads=uploads)


def test_write_then_read_with_type_metadata_and_retention(gcs):
    uri = f"gs://{gcs.content}/submissions/o/s/people.json"
    until = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    generation = gcs.store.write_bytes(
        uri, b'{"a": 1}', "application/json", retain_until=until, metadata={"user": "ada"}
    )
    blob = gcs.store.client.bucket(gcs.content).get_blob("submissions/o/s/people.json")
    assert (blob.generation, blob.content_type, blob.metadata) == (
        generation,
        "application/json",
        {"user": "ada"},
    )
    assert blob.custom_time == until
    assert gcs.store.read_bytes(uri) == b'{"a": 1}'
    assert gcs.store.read_bytes(pinned_uri(gcs.content, "submissions/o/s/people.json", generation))


def test_create_only_writes_send_if_generation_match_zero(gcs):
    uri = f"gs://{gcs.content}/runs/o/r/steps/0/1/output.json"
    gcs.store.write_bytes(uri, b"first", create_only=True)
    gcs.store.write_bytes(f"gs://{gcs.content}/runs/o/r/plain", b"x")
    uploads = gcs.proxy.matching("POST", f"/upload/storage/v1/b/{gcs.content}/o")
    assert [u.param("ifGenerationMatch") for u in uploads] == ["0", None]
    # Cloud Storage answers a second create with 412 (the emulator would overwrite).
    gcs.proxy.fail_next("POST", "/upload/storage/v1/", 412, PRECONDITION_FAILED)
    with pytest.raises(BlobExists):
        gcs.store.write_bytes(uri, b"second", create_only=True)
    assert gcs.store.read_bytes(uri) == b"first"


def test_copy_rewrites_server_side_across_buckets_from_a_pinned_generation(gcs):
    name = "o/people/big.json"
    generation = gcs.store.write_bytes(f"gs://{gcs.uploads}/{name}", b"payload")
    target = f"gs://{gcs.content}/runs/o/r/big.json"
    until = datetime(2030, 5, 6, tzinfo=UTC)
    gcs.store.copy(pinned_uri(gcs.uploads, name, generation), target, retain_until=until)
    assert gcs.store.read_bytes(target) == b"payload"
    [rewrite] = gcs.proxy.matching("POST", "/rewriteTo/")
    assert rewrite.param("sourceGeneration") == str(generation)
    assert rewrite.param("ifGenerationMatch") is None
    # The destination's metadata travels in the body (the emulator does not apply it).
    assert json.loads(rewrite.body)["customTime"].startswith("2030-05-06T00:00:00")

    gcs.store.copy(f"gs://{gcs.uploads}/{name}", target + ".2", create_only=True)
    assert gcs.proxy.matching("POST", "/rewriteTo/")[-1].param("ifGenerationMatch") == "0"
    gcs.proxy.fail_next("POST", "/rewriteTo/", 412, PRECONDITION_FAILED)
    with pytest.raises(BlobExists):
        gcs.store.copy(f"gs://{gcs.uploads}/{name}", target, create_only=True)


def test_a_pinned_generation_is_sent_on_read_and_delete(gcs):
    name = "o/people/a.json"
    generation = gcs.store.write_bytes(f"gs://{gcs.uploads}/{name}", b"old")
    pinned = pinned_uri(gcs.uploads, name, generation)
    gcs.store.read_bytes(pinned)
    [download] = gcs.proxy.matching("GET", "/download/storage/v1/")
    assert download.param("generation") == str(generation)
    # Cloud Storage answers 404 for a generation that is no longer live.
    gcs.proxy.fail_next("GET", "/download/storage/v1/", 404, '{"error": {"code": 404}}')
    with pytest.raises(BlobNotFound):
        gcs.store.read_bytes(pinned)
    gcs.store.delete(pinned)
    [delete] = gcs.proxy.matching("DELETE", f"/b/{gcs.uploads}/o/")
    assert delete.param("generation") == str(generation)


def test_a_large_object_is_streamed_in_ranged_chunks(gcs):
    data = hashlib.sha256(b"seed").digest() * (20 * 1024 * 1024 // 32)  # 20 MiB
    uri = f"gs://{gcs.content}/submissions/o/s/model.idf"
    gcs.store.write_bytes(uri, data)
    digest = hashlib.sha256()
    with gcs.store.open_read(uri) as stream:
        while chunk := stream.read(1024 * 1024):
            assert len(chunk) <= 1024 * 1024
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    downloads = gcs.proxy.matching("GET", "/download/storage/v1/")
    assert len(downloads) >= 3  # 8 MiB at a time, never the whole object at once
    assert all(d.headers.get("Range", "").startswith("bytes=") for d in downloads)


def test_delete_prefix_removes_every_object_under_it_page_by_page(gcs):
    for i in range(250):
        gcs.store.write_bytes(f"gs://{gcs.content}/runs/o/r1/steps/0/1/f{i}", b"x")
    keep = [f"gs://{gcs.content}/runs/o/r10/x", f"gs://{gcs.content}/runs/o/r1.json"]
    for uri in keep:
        gcs.store.write_bytes(uri, b"x")
    assert gcs.store.delete_prefix(f"gs://{gcs.content}/runs/o/r1/") == 250
    left = sorted(b.name for b in gcs.store.client.list_blobs(gcs.content))
    assert left == ["runs/o/r1.json", "runs/o/r10/x"]
    listing = gcs.proxy.matching("GET", f"/storage/v1/b/{gcs.content}/o")[0]
    # Pages of 1000 are asked for; the emulator answers everything in one page.
    assert (listing.param("prefix"), listing.param("maxResults")) == ("runs/o/r1/", "1000")
    batches = gcs.proxy.matching("POST", "/batch/storage/v1")
    assert [b.body.count(b"DELETE ") for b in batches] == [100, 100, 50]
    with pytest.raises(ValueError, match="must end with '/'"):
        gcs.store.delete_prefix(f"gs://{gcs.content}/runs/o/r1")


def test_concurrent_prefix_deletes_both_finish_and_leave_nothing(gcs):
    for i in range(120):
        gcs.store.write_bytes(f"gs://{gcs.content}/runs/o/r/f{i}", b"x")
    errors: list[BaseException] = []

    def purge():
        try:
            GcsBlobStore().delete_prefix(f"gs://{gcs.content}/runs/o/r/")
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=purge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert list(gcs.store.client.list_blobs(gcs.content, prefix="runs/o/r/")) == []


def test_missing_objects(gcs):
    missing = f"gs://{gcs.content}/nope"
    with pytest.raises(BlobNotFound):
        gcs.store.read_bytes(missing)
    with pytest.raises(BlobNotFound), gcs.store.open_read(missing) as stream:
        stream.read()
    with pytest.raises(BlobNotFound):
        gcs.store.copy(missing, f"gs://{gcs.content}/x")
    gcs.store.delete(missing)  # already gone is not an error
    assert gcs.store.delete_prefix(f"gs://{gcs.content}/runs/none/") == 0
