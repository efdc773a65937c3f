"""Upload events, grants and uploaders; submissions whose input is still an upload."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import UploadStatus
from shared.persistence.ports import Uploader
from shared.platform.errors import NotFound
from shared.platform.ids import new_id
from tests.contract.builders import T0, at, grant, save, store, submission, upload_event

pytestmark = pytest.mark.contract


def test_an_event_id_is_derived_from_bucket_name_and_generation(backend: Any) -> None:
    ids = backend.uploads
    assert ids.event_id("b", "o/w/x", 1) == ids.event_id("b", "o/w/x", 1)
    variants = {
        ids.event_id(*key)
        for key in [("b", "o/w/x", 1), ("b", "o/w/x", 2), ("c", "o/w/x", 1), ("b", "o/w/y", 1)]
    }
    assert len(variants) == 4


def test_an_event_is_recorded_once(backend: Any) -> None:
    event = upload_event(backend, "a")
    assert backend.uploads.record_event(event) is True
    again = event.model_copy(update={"status": UploadStatus.REJECTED, "reason": "late"})
    assert backend.uploads.record_event(again) is False
    assert backend.uploads.find_event(event.id) == event
    assert backend.uploads.find_event(new_id()) is None


def test_another_orgs_event_is_not_found(backend: Any) -> None:
    event = upload_event(backend, "a")
    backend.uploads.record_event(event)
    assert backend.uploads.get_event("a", event.id) == event
    with pytest.raises(NotFound):
        backend.uploads.get_event("b", event.id)
    with pytest.raises(NotFound):
        backend.uploads.get_event("a", new_id())


def test_a_grant_shows_nothing_until_its_object_is_seen(backend: Any) -> None:
    upload_id = new_id()
    backend.uploads.record_event(upload_event(backend, "a", "other", upload_id=new_id()))
    assert backend.uploads.find_granted("a", upload_id) is None


def test_a_grant_shows_its_refusal_to_its_org_only(backend: Any) -> None:
    upload_id = new_id()
    refused = upload_event(backend, "a", upload_id=upload_id, status=UploadStatus.REJECTED)
    backend.uploads.record_event(refused)
    assert backend.uploads.find_granted("a", upload_id) == refused
    assert backend.uploads.find_granted("b", upload_id) is None


def test_a_grant_shows_the_object_accepted_over_a_refused_one(backend: Any) -> None:
    upload_id = new_id()
    refused = upload_event(backend, "a", "x", 1, upload_id, UploadStatus.REJECTED)
    accepted = upload_event(backend, "a", "y", 2, upload_id)
    backend.uploads.record_event(refused)
    batch = backend.batch()
    batch.accept_upload(accepted)
    batch.commit()
    assert backend.uploads.find_granted("a", upload_id) == accepted
    assert backend.uploads.find_granted("b", upload_id) is None


def test_a_grant_is_recorded_and_found(backend: Any) -> None:
    made = grant("a")
    backend.uploads.record_grant(made)
    assert backend.uploads.find_grant(made.id) == made
    assert backend.uploads.find_grant(new_id()) is None


def uploader(org: str, member: str) -> Uploader:
    return Uploader(org_id=org, member=member, created_at=T0)


def test_an_uploader_is_added_once_and_removed_once(backend: Any) -> None:
    member = "serviceAccount:ci@p.iam.gserviceaccount.com"
    assert backend.uploads.add_uploader(uploader("a", member)) is True
    assert backend.uploads.add_uploader(uploader("a", member)) is False
    assert backend.uploads.add_uploader(uploader("b", member)) is True
    assert backend.uploads.uploaders("a") == [uploader("a", member)]
    assert backend.uploads.remove_uploader("a", member) is True
    assert backend.uploads.remove_uploader("a", member) is False
    assert backend.uploads.uploaders("a") == []
    assert backend.uploads.uploaders("b") == [uploader("b", member)]


def test_uploaders_are_the_orgs_up_to_a_limit(backend: Any) -> None:
    members = [f"user:{n}@example.com" for n in ("c", "a", "b")]
    for member in members:
        backend.uploads.add_uploader(uploader("a", member))
    backend.uploads.add_uploader(uploader("b", "user:z@example.com"))
    assert {u.member for u in backend.uploads.uploaders("a")} == set(members)
    assert len(backend.uploads.uploaders("a", limit=2)) == 2
    assert (backend.uploads.has_uploaders("a"), backend.uploads.has_uploaders("c")) == (True, False)


ROOT = "gs://uploads/a"


def inputs_under(backend: Any, root: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        page, cursor = backend.upload_inputs.under(root, limit, cursor)
        seen += [stored.submission.id for stored in page]
        if not page or cursor is None:
            return seen
    raise AssertionError("the pages never ran out")


def test_inputs_under_a_root_page_through_exactly_its_objects(backend: Any) -> None:
    inside = [submission("a", input_file=f"{ROOT}/people/{n}/x.json") for n in range(5)]
    outside = [
        submission("a", input_file="gs://uploads/ab/people/1/x.json"),
        submission("a", input_file="gs://other/a/people/1/x.json"),
        submission("a", input_file=None),
    ]
    store(backend, *inside, *outside)
    seen = inputs_under(backend, ROOT, 2)
    assert sorted(seen) == sorted(s.id for s in inside)


def test_an_input_is_repointed_unless_it_changed_since_read(backend: Any) -> None:
    sub = submission("a", input_file=f"{ROOT}/people/1/x.json")
    store(backend, sub)
    read = backend.upload_inputs.find(sub.id)
    assert read.submission == sub
    assert backend.upload_inputs.repoint(read, "file:///content/x.json") is True
    assert backend.submissions.find(sub.id).input_file == "file:///content/x.json"
    assert backend.upload_inputs.repoint(read, "file:///elsewhere") is False
    assert backend.submissions.find(sub.id).input_file == "file:///content/x.json"
    assert backend.upload_inputs.find(new_id()) is None


def test_a_purge_meanwhile_wins_over_a_repoint(backend: Any) -> None:
    sub = submission("a", input_file=f"{ROOT}/people/1/x.json")
    store(backend, sub)
    read = backend.upload_inputs.find(sub.id)
    backend.transact(lambda uow: uow.mark_submission_purged(sub.id, at(1)))
    assert backend.upload_inputs.repoint(read, "file:///content/x.json") is False
    assert backend.submissions.find(sub.id).input_file is None
    assert inputs_under(backend, ROOT, 10) == []


def test_a_repoint_after_a_save_is_refused(backend: Any) -> None:
    sub = submission("a", input_file=f"{ROOT}/people/1/x.json")
    store(backend, sub)
    read = backend.upload_inputs.find(sub.id)
    save(backend, sub.model_copy(update={"latest_run_id": "r"}))
    assert backend.upload_inputs.repoint(read, "file:///content/x.json") is False
    assert backend.submissions.find(sub.id).input_file == sub.input_file
