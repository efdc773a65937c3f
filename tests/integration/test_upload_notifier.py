"""The local stand-in for Eventarc's storage trigger: an object written to the uploads
location reaches the target as a binary-mode CloudEvent with an ID token, within 2 s,
once per generation — for a `file://` folder and for a bucket on the storage emulator."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from cloudevents.http import from_http
from werkzeug.wrappers import Request, Response

from devstack.metadata_server import MetadataServer
from devstack.storage_emulator import StorageEmulator
from devstack.upload_notifier import UploadNotifier
from shared.adapters.storage import open_store
from shared.adapters.storage.layout import UploadsLayout
from shared.api.auth.id_tokens import verify_id_token

EVENTARC = "assay-eventarc@p.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def storage_emulator():
    emulator = StorageEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(params=["file", "gcs"])
def uploads(request, tmp_path, monkeypatch):
    if request.param == "file":
        return (tmp_path / "uploads").as_uri()
    emulator = request.getfixturevalue("storage_emulator")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    emulator.create_bucket(bucket)
    from shared.adapters.storage import _store

    _store.cache_clear()
    return f"gs://{bucket}"


def test_each_new_generation_is_delivered_once_with_a_token(uploads, serve):
    metadata = serve(MetadataServer([EVENTARC], EVENTARC, "p"))
    received = []
    arrived = threading.Event()

    def target(environ, start_response):
        request = Request(environ)
        received.append((time.monotonic(), dict(request.headers), request.get_data()))
        arrived.set()
        return Response("OK")(environ, start_response)

    target_url = serve(target).url
    notifier = UploadNotifier(uploads, target_url, metadata.url, EVENTARC, settle_seconds=0.2)
    watcher = threading.Thread(target=notifier.run_forever, kwargs={"poll_seconds": 0.1})
    watcher.start()
    try:
        check_deliveries(uploads, notifier, received, arrived, target_url, metadata.url)
    finally:
        notifier.stopped.set()
        watcher.join(5)


def check_deliveries(uploads, notifier, received, arrived, target_url, metadata_url):

    layout = UploadsLayout(uploads)
    written = time.monotonic()
    generation = open_store(uploads).write_bytes(
        layout.object_uri("org1/people/ada.json"),
        b'{"a": 1}',
        "application/json",
        metadata={"user": "ada"},
    )
    assert arrived.wait(5)
    at, headers, body = received[0]
    assert at - written < 2.0
    assert headers["Ce-Type"] == "google.cloud.storage.object.v1.finalized"
    assert headers["Ce-Subject"] == "objects/org1/people/ada.json"
    event = from_http(headers, body)
    assert event.data["bucket"] == layout.bucket
    assert (event.data["name"], event.data["generation"]) == (
        "org1/people/ada.json",
        str(generation),
    )
    assert (event.data["size"], event.data["contentType"]) == ("8", "application/json")
    assert event.data["metadata"] == {"user": "ada"}
    caller = verify_id_token(
        headers["Authorization"].split(" ", 1)[1],
        audience=target_url,
        allowed_emails={EVENTARC},
        certs_url=metadata_url + "/oauth2/v1/certs",
    )
    assert caller.email == EVENTARC
    time.sleep(0.6)
    assert len(received) == 1  # seen generations are not delivered again
    open_store(uploads).write_bytes(layout.object_uri("org1/people/ada.json"), b'{"a": 2}')
    deadline = time.monotonic() + 5
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(received) == 2
    assert from_http(received[1][1], received[1][2]).data["generation"] != str(generation)


def test_a_refused_delivery_is_retried_until_acknowledged(tmp_path, serve):
    metadata = serve(MetadataServer([EVENTARC], EVENTARC, "p"))
    answers = iter([503, 500, 200])
    seen = []

    def target(environ, start_response):
        status = next(answers)
        seen.append(status)
        return Response("", status=status)(environ, start_response)

    uploads = (tmp_path / "uploads").as_uri()
    notifier = UploadNotifier(uploads, serve(target).url, metadata.url, EVENTARC, settle_seconds=0)
    open_store(uploads).write_bytes(UploadsLayout(uploads).object_uri("o/w/f.json"), b"{}")
    [data] = notifier.scan()
    assert notifier.deliver(data) is True
    assert seen == [503, 500, 200]
    assert notifier.scan() == []
