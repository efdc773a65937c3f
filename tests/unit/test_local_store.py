"""The `file://` blob store keeps the same promises as the `gs://` one: create-only writes,
pinned generations, streamed reads, copies, prefix deletes."""

import os
import threading
import time

import pytest

from shared.adapters.storage import BlobExists, BlobNotFound, open_store
from shared.adapters.storage.local import LocalBlobStore


@pytest.fixture
def store():
    return LocalBlobStore()


def test_open_store_picks_the_store_by_scheme(tmp_path):
    assert isinstance(open_store(tmp_path.as_uri()), LocalBlobStore)
    with pytest.raises(ValueError, match="file:// or gs://"):
        open_store("s3://bucket/x")


def test_create_only_lets_exactly_one_of_many_concurrent_writers_win(store, tmp_path):
    uri = (tmp_path / "runs/o/r/steps/0/1/output.json").as_uri()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        barrier.wait()
        try:
            store.write_bytes(uri, f"writer {n}".encode(), create_only=True)
            outcomes.append("created")
        except BlobExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 7
    assert store.read_bytes(uri).startswith(b"writer ")
    assert [p.name for p in (tmp_path / "runs/o/r/steps/0/1").iterdir()] == ["output.json"]


def test_a_pinned_generation_reads_and_deletes_only_that_version(store, tmp_path):
    uri = (tmp_path / "uploads/o/people/a.json").as_uri()
    old = store.write_bytes(uri, b"old")
    assert store.read_bytes(f"{uri}#{old}") == b"old"
    time.sleep(0.01)
    new = store.write_bytes(uri, b"new")
    assert new != old
    with pytest.raises(BlobNotFound, match="replaced"):
        store.read_bytes(f"{uri}#{old}")
    store.delete(f"{uri}#{old}")  # the newer object is not ours to delete
    assert store.read_bytes(uri) == b"new"
    store.delete(f"{uri}#{new}")
    with pytest.raises(BlobNotFound):
        store.read_bytes(uri)


def test_metadata_lives_in_a_sidecar_that_goes_with_the_object(store, tmp_path):
    path = tmp_path / "uploads/o/people/a.json"
    generation = store.write_bytes(
        path.as_uri(), b"{}", "application/json", metadata={"user": "ada"}
    )
    described = store.describe(path)
    assert (described.generation, described.size, described.content_type) == (
        generation,
        2,
        "application/json",
    )
    assert described.metadata == {"user": "ada"}
    store.delete(path.as_uri())
    assert list(path.parent.iterdir()) == []


def test_streamed_read_copy_and_prefix_delete(store, tmp_path):
    source = (tmp_path / "submissions/o/s/model.idf").as_uri()
    data = os.urandom(3 * 1024 * 1024)
    store.write_bytes(source, data)
    with store.open_read(source) as stream:
        assert stream.read(1024) == data[:1024]
    target = (tmp_path / "runs/o/r/model.idf").as_uri()
    store.copy(source, target, create_only=True)
    with pytest.raises(BlobExists):
        store.copy(source, target, create_only=True)
    assert store.read_bytes(target) == data
    store.write_bytes((tmp_path / "runs/o/r/steps/0/1/input.json").as_uri(), b"{}", metadata={})
    store.write_bytes((tmp_path / "runs/o/r10/keep").as_uri(), b"x")
    assert store.delete_prefix((tmp_path / "runs/o/r").as_uri() + "/") == 2
    assert [p.name for p in (tmp_path / "runs/o").iterdir()] == ["r10"]
    with pytest.raises(BlobNotFound), store.open_read(target):
        pass
    with pytest.raises(BlobNotFound):
        store.copy(target, source)


def test_a_source_deleted_during_the_copy_is_not_found_and_leaves_no_target(
    store, tmp_path, monkeypatch
):
    source = (tmp_path / "uploads/o/people.json").as_uri()
    store.write_bytes(source, b"{}")
    found = store._existing

    def found_then_deleted(uri):
        path = found(uri)
        path.unlink()  # as a concurrent delivery that moved it would
        return path

    monkeypatch.setattr(store, "_existing", found_then_deleted)
    target = tmp_path / "submissions/o/people.json"
    with pytest.raises(BlobNotFound):
        store.copy(source, target.as_uri(), create_only=True)
    assert list(target.parent.iterdir()) == []
