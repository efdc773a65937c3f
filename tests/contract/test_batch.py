"""`Repositories.batch`: writes committed together, all or none."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import UploadStatus
from shared.platform.errors import AlreadyExists, ChangedConcurrently
from shared.platform.ids import new_id
from tests.contract.builders import idempotency, run, store, submission, upload_event

pytestmark = pytest.mark.contract


def test_nothing_is_written_before_the_commit_and_everything_after(backend: Any) -> None:
    sub = submission("a")
    mine = run("a", submission_id=sub.id)
    batch = backend.batch()
    batch.create(sub)
    batch.create(mine)
    assert backend.runs.find(mine.id) is None and backend.submissions.find(sub.id) is None
    batch.commit()
    assert backend.runs.find(mine.id) == mine
    assert backend.submissions.find(sub.id) == sub


def test_a_collision_writes_nothing_else(backend: Any) -> None:
    existing = run("a")
    store(backend, existing)
    sub, fresh, record = submission("a"), run("a", 1), idempotency("a")
    batch = backend.batch()
    for model in (sub, fresh, record, existing.model_copy(update={"workflow_slug": "x"})):
        batch.create(model)
    with pytest.raises(AlreadyExists):
        batch.commit()
    assert backend.submissions.find(sub.id) is None
    assert backend.runs.find(fresh.id) is None
    assert backend.submissions.idempotency(record.id) is None
    assert backend.runs.find(existing.id) == existing


def test_a_replace_at_the_version_read_succeeds_once(backend: Any) -> None:
    record = idempotency("a")
    store(backend, record)
    read = backend.submissions.idempotency(record.id)
    batch = backend.batch()
    batch.replace_unless_changed(read.model_copy(update={"run_id": "second"}), read.updated)
    batch.commit()
    assert backend.submissions.idempotency(record.id).run_id == "second"
    stale = backend.batch()
    stale.replace_unless_changed(read.model_copy(update={"run_id": "third"}), read.updated)
    with pytest.raises(ChangedConcurrently):
        stale.commit()
    assert backend.submissions.idempotency(record.id).run_id == "second"


def test_a_stale_replace_writes_nothing_else(backend: Any) -> None:
    record = idempotency("a")
    store(backend, record)
    read = backend.submissions.idempotency(record.id)
    changed = backend.batch()
    changed.replace_unless_changed(read.model_copy(update={"run_id": "other"}), read.updated)
    changed.commit()
    fresh = run("a")
    batch = backend.batch()
    batch.create(fresh)
    batch.replace_unless_changed(read.model_copy(update={"run_id": "mine"}), read.updated)
    with pytest.raises(ChangedConcurrently):
        batch.commit()
    assert backend.runs.find(fresh.id) is None
    assert backend.submissions.idempotency(record.id).run_id == "other"


def test_an_accepted_upload_is_recorded_and_claims_its_grant(backend: Any) -> None:
    upload_id = new_id()
    event = upload_event(backend, "a", "one", upload_id=upload_id)
    sub = submission("a")
    batch = backend.batch()
    batch.create(sub)
    batch.accept_upload(event)
    batch.commit()
    assert backend.uploads.find_event(event.id) == event
    assert backend.uploads.find_granted("a", upload_id) == event


def test_a_second_object_under_one_grant_collides_and_writes_nothing(backend: Any) -> None:
    upload_id = new_id()
    first = upload_event(backend, "a", "one", upload_id=upload_id)
    second = upload_event(backend, "a", "two", upload_id=upload_id)
    store_upload(backend, first)
    sub = submission("a")
    with pytest.raises(AlreadyExists):
        store_upload(backend, second, sub)
    assert backend.uploads.find_event(second.id) is None
    assert backend.submissions.find(sub.id) is None
    assert backend.uploads.find_granted("a", upload_id) == first


def test_a_redelivered_upload_collides(backend: Any) -> None:
    event = upload_event(backend, "a", "one")  # no grant: uploaded by an uploader
    store_upload(backend, event)
    with pytest.raises(AlreadyExists):
        store_upload(backend, event.model_copy(update={"status": UploadStatus.REJECTED}))
    assert backend.uploads.find_event(event.id) == event


def store_upload(backend: Any, event: Any, *models: Any) -> None:
    batch = backend.batch()
    for model in models:
        batch.create(model)
    batch.accept_upload(event)
    batch.commit()
