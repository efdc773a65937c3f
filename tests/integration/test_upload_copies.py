"""The upload trigger's copy of an object (issue 20): made before the commit, kept only
for the submission that reads it. A delivery that ends any other way (refused, the
object gone, a concurrent delivery's refusal recorded first) deletes it, so no copy is
left in the content location with nobody to remove it (under STORE_PERMANENTLY it has
no customTime). Real threads, the Firestore emulator and both blob stores (a folder and
the storage emulator); a crash is the real store raising once its copy is made."""

# ruff: noqa: F811 - `world` is the tenancy tests' fixture, imported, and each test's argument

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from shared import wiring
from shared.adapters.storage import BlobNotFound, BlobStore, open_store
from shared.adapters.storage.layout import Layout
from shared.domain.enums import UploadStatus
from shared.persistence.firestore.store import FirestoreRepositories
from shared.persistence.firestore.uploads import FirestoreUploads
from shared.persistence.ports import Uploader
from shared.platform.config import get_settings
from shared.services import uploads
from tests.integration.test_upload_tenancy import (  # noqa: F401 - fixtures
    PIPELINE_A,
    describe,
    exists,
    planted,
    runs,
    storage_emulator,
    world,
)

MEMBER = f"serviceAccount:{PIPELINE_A}"
Outcome = uploads.UploadOutcome


class Crash(Exception):
    """The delivery's instance stopping between its copy and its commit."""


class AfterCopy:
    """The real store; `then` runs once a copy is made (a crash, or another delivery's
    turn)."""

    def __init__(self, real: BlobStore, then: Callable[[], None]) -> None:
        self.real, self.then = real, then

    def copy(self, *args: Any, **kwargs: Any) -> None:
        self.real.copy(*args, **kwargs)
        self.then()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def receive(obj: dict[str, Any], store: Any = None, repos: Any = None) -> uploads.UploadResult:
    return uploads.receive_upload(
        repos or wiring.repositories(),
        store or wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        uploads.UploadedObject.model_validate(obj),
    )


def allow(world: SimpleNamespace) -> None:
    world.repos.uploads.add_uploader(
        Uploader(org_id=world.a, member=MEMBER, created_at=datetime.now(UTC))
    )


def refuse(world: SimpleNamespace) -> None:
    world.repos.uploads.remove_uploader(world.a, MEMBER)


def upload(world: SimpleNamespace, filename: str) -> dict[str, Any]:
    name = f"{world.a}/people/{filename}"
    planted(name)
    return describe(world, name)


def event_id(world: SimpleNamespace, obj: dict[str, Any]) -> str:
    return str(world.repos.uploads.event_id(obj["bucket"], obj["name"], int(obj["generation"])))


def copy_of(world: SimpleNamespace, obj: dict[str, Any]) -> str:
    filename = obj["name"].rsplit("/", 1)[-1]
    return Layout(get_settings().storage_uri).claimed_upload(
        world.a, event_id(world, obj), filename
    )


def held(uri: str) -> bool:
    try:
        open_store(uri).read_bytes(uri)
    except BlobNotFound:
        return False
    return True


def verdict(world: SimpleNamespace, obj: dict[str, Any]) -> Any:
    return world.repos.uploads.find_event(event_id(world, obj))


def test_a_refusal_recorded_while_an_acceptance_copies_takes_the_copy_with_it(world):
    allow(world)
    obj = upload(world, "race.json")
    copied, refused = threading.Event(), threading.Event()

    def after_copy() -> None:
        copied.set()
        assert refused.wait(30)

    def refusing() -> uploads.UploadResult:
        assert copied.wait(30)
        refuse(world)  # the org's uploader removed between the two deliveries' checks
        try:
            return receive(obj)
        finally:
            refused.set()

    with ThreadPoolExecutor(2) as pool:
        accepting = pool.submit(receive, obj, AfterCopy(wiring.blob_store(), after_copy))
        refusal = pool.submit(refusing)
        first, second = accepting.result(60), refusal.result(60)
    assert second.outcome is Outcome.REJECTED and "no uploaders" in (second.reason or "")
    assert first.outcome is Outcome.DUPLICATE and first.run_id is None
    assert verdict(world, obj).status is UploadStatus.REJECTED
    assert runs(world) == []
    assert not held(copy_of(world, obj)) and not exists(obj["name"])


class LooksFirst(FirestoreUploads):
    """The real uploads repository; the delivery's first look for a verdict finds none
    and then waits for `go` (another delivery accepting the object meanwhile)."""

    def __init__(self, db: Any, looked: threading.Event, go: threading.Event) -> None:
        super().__init__(db)
        self.looked, self.go, self.first = looked, go, True

    def find_event(self, event_id: str) -> Any:
        found = super().find_event(event_id)
        if self.first:
            self.first = False
            self.looked.set()
            assert self.go.wait(30)
        return found


def looks_first(db: Any, looked: threading.Event, go: threading.Event) -> FirestoreRepositories:
    repos = FirestoreRepositories(db)
    repos.uploads = LooksFirst(db, looked, go)  # type: ignore[misc]
    return repos


@pytest.mark.firestore
def test_a_refusal_that_loses_to_an_acceptance_leaves_the_runs_copy(world):
    allow(world)
    obj = upload(world, "late.json")
    looked, go = threading.Event(), threading.Event()
    late = looks_first(world.repos.db, looked, go)
    with ThreadPoolExecutor(1) as pool:
        refusal = pool.submit(receive, obj, None, late)
        assert looked.wait(30)
        accepted = receive(obj)
        refuse(world)
        go.set()
        second = refusal.result(60)
    assert accepted.outcome is Outcome.ACCEPTED
    assert second.outcome is Outcome.DUPLICATE and second.run_id == accepted.run_id
    submission = world.repos.submissions.get(world.a, accepted.submission_id)
    assert submission.input_file == copy_of(world, obj) and held(submission.input_file)


def test_concurrent_deliveries_and_a_refusal_leave_a_copy_only_for_a_run(world):
    for attempt in range(3):
        allow(world)
        obj = upload(world, f"storm-{attempt}.json")

        def deliver(i: int, obj: dict[str, Any] = obj) -> uploads.UploadResult:
            if i == 0:
                time.sleep(random.uniform(0, 0.3))
                refuse(world)
            return receive(obj)

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(deliver, range(6)))
        decided = verdict(world, obj)
        outcomes = {r.outcome for r in results}
        if decided.status is UploadStatus.ACCEPTED:
            assert held(copy_of(world, obj)) and decided.run_id is not None
            assert Outcome.REJECTED not in outcomes
        else:
            assert not held(copy_of(world, obj)) and decided.run_id is None
            assert Outcome.ACCEPTED not in outcomes
        assert {r.run_id for r in results} == {decided.run_id}
        assert not exists(obj["name"])


def crashed(world: SimpleNamespace, obj: dict[str, Any]) -> None:
    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        receive(obj, AfterCopy(wiring.blob_store(), crash))
    assert held(copy_of(world, obj)) and verdict(world, obj) is None


def test_a_crash_after_the_copy_then_the_object_gone_deletes_the_copy(world):
    allow(world)
    obj = upload(world, "crash.json")
    crashed(world, obj)
    wiring.blob_store().delete(
        uploads.UploadsLayout(get_settings().uploads_uri).object_uri(
            obj["name"], int(obj["generation"])
        )
    )
    retried = receive(obj)
    assert retried.outcome is Outcome.GONE and retried.reason == uploads.GONE
    assert verdict(world, obj).status is UploadStatus.REJECTED
    assert not held(copy_of(world, obj)) and runs(world) == []


def test_a_crash_after_the_copy_then_a_refusal_deletes_the_copy(world):
    allow(world)
    obj = upload(world, "revoked.json")
    crashed(world, obj)
    refuse(world)
    assert receive(obj).outcome is Outcome.REJECTED
    assert not held(copy_of(world, obj)) and not exists(obj["name"]) and runs(world) == []


def test_a_crash_after_the_copy_then_a_retry_keeps_the_copy_for_its_run(world):
    allow(world)
    obj = upload(world, "retry.json")
    crashed(world, obj)
    retried = receive(obj)
    assert retried.outcome is Outcome.ACCEPTED
    submission = world.repos.submissions.get(world.a, retried.submission_id)
    assert submission.input_file == copy_of(world, obj) and held(submission.input_file)


def test_an_object_gone_while_another_delivery_copies_it_is_never_accepted(world):
    """The object goes after one delivery copied it: another delivery finds it gone and
    records so, and the first, committing after, accepts nothing and drops its copy."""
    allow(world)
    obj = upload(world, "vanish.json")
    uri = uploads.UploadsLayout(get_settings().uploads_uri).object_uri(
        obj["name"], int(obj["generation"])
    )
    copied, found_gone = threading.Event(), threading.Event()

    def after_copy() -> None:
        copied.set()
        assert found_gone.wait(30)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(receive, obj, AfterCopy(wiring.blob_store(), after_copy))
        assert copied.wait(30)
        wiring.blob_store().delete(uri)
        second = receive(obj)
        found_gone.set()
        assert first.result(60).outcome is Outcome.DUPLICATE
    assert second.outcome is Outcome.GONE
    assert not held(copy_of(world, obj)) and runs(world) == []
