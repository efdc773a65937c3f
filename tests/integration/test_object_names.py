"""Any object name is safe: whatever a name holds (`#`, `?`, `%`, spaces, newlines,
`..`, bytes that are not UTF-8, 1,024 characters), its URI names that object and no
other, on the storage emulator (`gs://`) and on a local folder (`file://`). Each name
below is built so that a careless parser would read it as the victim's."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from devstack.storage_emulator import StorageEmulator
from shared.adapters.storage import BlobNotFound, decode_name, encode_name
from shared.adapters.storage.gcs import GcsBlobStore, pinned_uri, split_uri
from shared.adapters.storage.layout import UploadsLayout
from shared.adapters.storage.local import LocalBlobStore, path_of

VICTIM = "victim/people/01HZZZZZZZZZZZZZZZZZZZZZZZ/model.json"
# (class, the attacker's name): each is the victim's name to a parser that cuts at `#`
# or `?`, decodes `%`, strips spaces, or resolves `..`.
HOSTILE = {
    "hash": VICTIM + "#x.json",
    "hash-digits": VICTIM + "#1",
    "question": VICTIM + "?x.json",
    "percent": VICTIM.replace(".json", "%2Ejson"),
    "percent-hash": VICTIM + "%23x.json",
    "space": VICTIM + " ",
    "newline": VICTIM + "\n.json",
    "dots": "victim/people/x/../01HZZZZZZZZZZZZZZZZZZZZZZZ/model.json",
    "long": VICTIM + "#" + "x" * (1024 - len(VICTIM) - 1),
}
LOCAL_ONLY = {
    # Python's spelling of a local file name that is not UTF-8 (Cloud Storage has none).
    "not-utf8": VICTIM + "\udcff",
    # A local folder takes 255 bytes a segment: 1,024 characters in several segments.
    "long": VICTIM + "#" + "/".join(["y" * 200] * 5)[: 1024 - len(VICTIM) - 1],
}


@pytest.fixture(scope="module")
def storage_emulator() -> Any:
    emulator = StorageEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(params=["file", "gcs"])
def where(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    if request.param == "file":
        return (tmp_path / "uploads").as_uri(), LocalBlobStore()
    emulator = request.getfixturevalue("storage_emulator")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    emulator.create_bucket(bucket)
    return f"gs://{bucket}", GcsBlobStore()


def _cases(root: str) -> dict[str, str]:
    names = dict(HOSTILE)
    if root.startswith("file://"):
        names.update(LOCAL_ONLY)
    # A folder cannot hold it (its refusal is tested below); Cloud Storage takes it
    # literally, but gcp-storage-emulator drops the connection on it.
    del names["dots"]
    return names


def test_each_hostile_name_addresses_only_itself(where: tuple[str, Any]) -> None:
    root, store = where
    layout = UploadsLayout(root)
    victim = layout.object_uri(VICTIM)
    store.write_bytes(victim, b"victim", "application/json")
    for label, name in _cases(root).items():
        uri = layout.object_uri(name)
        generation = store.write_bytes(uri, label.encode(), "application/json")
        assert store.read_bytes(uri) == label.encode(), label
        assert store.read_bytes(layout.object_uri(name, generation)) == label.encode(), label
        store.delete(layout.object_uri(name, generation))  # a refused upload's delete
        with pytest.raises(BlobNotFound):
            store.read_bytes(uri)
        assert store.read_bytes(victim) == b"victim", label


def test_a_local_name_that_climbs_is_refused_not_resolved(tmp_path: Path) -> None:
    layout = UploadsLayout((tmp_path / "uploads").as_uri())
    store = LocalBlobStore()
    store.write_bytes(layout.object_uri(VICTIM), b"victim")
    with pytest.raises(ValueError, match="does not name one object"):
        store.delete(layout.object_uri(HOSTILE["dots"], 1))
    assert store.read_bytes(layout.object_uri(VICTIM)) == b"victim"


@pytest.mark.parametrize("name", [*HOSTILE.values(), VICTIM])
def test_a_gs_uri_with_a_generation_reads_back_exactly(name: str) -> None:
    uri = pinned_uri("b", name, 1700000000000000)
    assert "#" not in uri.removesuffix("#1700000000000000")
    assert split_uri(uri) == ("b", name, 1700000000000000)
    assert split_uri(UploadsLayout("gs://b").object_uri(name)) == ("b", name, None)


def test_uris_stored_before_the_encoding_read_the_same() -> None:
    # What Submission.input_file and friends hold from earlier releases.
    assert split_uri("gs://assay-uploads/o/w/x.json#17") == ("assay-uploads", "o/w/x.json", 17)
    assert split_uri("gs://c/submissions/o/s/people.json") == (
        "c",
        "submissions/o/s/people.json",
        None,
    )
    assert path_of("file:///tmp/u/o/w/x.json#17") == Path("/tmp/u/o/w/x.json")
    assert encode_name("runs/o/r/steps/0/1/output.json") == "runs/o/r/steps/0/1/output.json"


@pytest.mark.parametrize(
    "uri", ["gs://b/o/w/x.json#x.json", "gs://b/o/w/x.json#", "gs://b/o#1#2", "gs://b/%FF"]
)
def test_an_ambiguous_or_undecodable_gs_uri_is_an_error(uri: str) -> None:
    with pytest.raises(ValueError):
        split_uri(uri)


def test_names_are_percent_encoded_and_decoded_losslessly() -> None:
    for name in [*HOSTILE.values(), *LOCAL_ONLY.values()]:
        encoded = encode_name(name)
        assert not set("#?\n ") & set(encoded)
        assert decode_name(encoded, strict=False) == name


def test_the_local_notifier_delivers_names_verbatim_and_never_a_non_utf8_one(
    tmp_path: Path,
) -> None:
    from devstack.upload_notifier import UploadNotifier

    root = tmp_path / "uploads"
    layout = UploadsLayout(root.as_uri())
    store = LocalBlobStore()
    names = [VICTIM, HOSTILE["hash"], HOSTILE["question"], HOSTILE["space"], HOSTILE["percent"]]
    for name in [*names, LOCAL_ONLY["not-utf8"]]:
        store.write_bytes(layout.object_uri(name), b"x")
    notifier = UploadNotifier(root.as_uri(), "http://127.0.0.1:9", "http://127.0.0.1:9", "a@b")
    notifier.settle_seconds = 0
    delivered = sorted(data["name"] for data in notifier.scan())
    assert delivered == sorted(names)
    assert notifier.scan() == []  # each generation once; the stray name is not retried
