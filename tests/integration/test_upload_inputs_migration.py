"""`assay admin migrate upload-inputs` (docs/deploy.md): submissions the upload trigger
recorded before it copied accepted objects read their input from the uploads bucket,
whose age rule would delete it. The command copies each into the content location
(its retention as customTime), points the submission at the copy unless a purge cleared
it meanwhile, and finds nothing the second time. On the Firestore emulator, with a
folder and the storage emulator for the buckets."""

# ruff: noqa: F811 - `world` is the tenancy tests' fixture, imported, and each test's argument

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from shared import wiring
from shared.adapters.storage import open_store
from shared.adapters.storage.gcs import split_uri
from shared.adapters.storage.layout import Layout
from shared.domain.models import Submission
from shared.platform.config import get_settings
from shared.services import workflows
from shared.services.submissions import StoredFile, Submitter, accept, submit_stored
from shared.services.upload_inputs import legacy_names, migrate_upload_inputs
from tests.factories import workflow_body
from tests.integration.test_upload_copies import AfterCopy, held
from tests.integration.test_upload_tenancy import (  # noqa: F401 - fixtures
    DOC,
    describe,
    planted,
    storage_emulator,
    store,
    world,
)

KEEP = {"submission": "STORE_PERMANENTLY", "output": "STORE_30_DAYS"}


def legacy(world: SimpleNamespace, name: str, *, raw: bool = False, slug: str = "people") -> Any:
    """A submission as the trigger recorded it before d614baf: its input_file is the
    uploads object itself, pinned to its generation; `raw`, from before names were
    percent-encoded in URIs."""
    planted(name)
    generation = int(describe(world, name)["generation"])
    uri = (
        f"{world.layout.root}/{name}#{generation}"
        if raw
        else world.layout.object_uri(name, generation)
    )
    settings, filename = get_settings(), name.rsplit("/", 1)[-1]
    accepted = accept(
        world.repos,
        settings,
        world.a,
        slug,
        size=len(DOC),
        filename=filename,
        content_type="application/json",
        project_id=None,
        limit=settings.max_object_bytes,
    )
    stored = StoredFile(
        uri, hashlib.sha256(DOC).hexdigest(), len(DOC), filename, "application/json"
    )
    submitted = submit_stored(
        world.repos,
        wiring.task_queue(),
        settings,
        submitter=Submitter(world.a),
        accepted=accepted,
        stored=stored,
        marker=lambda *_: None,
    )
    assert submitted is not None
    return SimpleNamespace(id=submitted.submission.id, name=name, generation=generation, uri=uri)


def copy_of(world: SimpleNamespace, made: Any) -> str:
    event_id = world.repos.uploads.event_id(world.layout.bucket, made.name, made.generation)
    filename = made.name.rsplit("/", 1)[-1]
    return Layout(get_settings().storage_uri).claimed_upload(world.a, event_id, filename)


def submission(world: SimpleNamespace, made: Any) -> Submission:
    found: Submission = world.repos.submissions.get(world.a, made.id)
    return found


class Recording(AfterCopy):
    """The real store, noting the retention each copy is made with (the storage
    emulator does not apply a rewrite's destination metadata; test_gcs_store shows it
    is sent)."""

    def __init__(self) -> None:
        super().__init__(wiring.blob_store(), lambda: None)
        self.retention: dict[str, datetime | None] = {}

    def copy(self, source: str, target: str, **kwargs: Any) -> None:
        super().copy(source, target, **kwargs)
        self.retention[target] = kwargs.get("retain_until")


def migrate(**kwargs: Any) -> Any:
    store_ = kwargs.pop("store_", None) or wiring.blob_store()
    return migrate_upload_inputs(wiring.repositories(), store_, get_settings(), **kwargs)


def test_inputs_in_the_uploads_bucket_move_to_the_content_location_once(world):
    body = workflow_body("keep", retention=KEEP)
    workflows.create_workflow(world.repos, world.a, workflows.WorkflowCreate.model_validate(body))
    a = world.a
    plain = legacy(world, f"{a}/people/plain.json")
    spaced = legacy(world, f"{a}/people/with space.json")
    raw = legacy(world, f"{a}/people/50%41#x.json", raw=True)
    kept = legacy(world, f"{a}/keep/forever.json", slug="keep")
    gone = legacy(world, f"{a}/people/gone.json")
    wiring.blob_store().delete(gone.uri)
    purged = legacy(world, f"{a}/people/purged.json")
    world.repos.transact(lambda t: t.mark_submission_purged(purged.id, datetime.now(UTC)))

    recording = Recording()
    report = migrate(page=2, store_=recording)  # pages of two: the cursor carries across

    assert (report.found, report.moved, report.purged, report.missing) == (5, 4, 0, [gone.id])
    for made in (plain, spaced, raw, kept):
        moved = submission(world, made)
        assert moved.input_file == copy_of(world, made)
        # The age rule takes the original (a raw URI no longer names it: encode).
        wiring.blob_store().delete(world.layout.object_uri(made.name, made.generation))
        assert open_store(moved.input_file).read_bytes(moved.input_file) == DOC
    assert submission(world, gone).input_file == gone.uri
    assert submission(world, purged).input_file is None
    retention = submission(world, plain).retained_until
    assert retention is not None and recording.retention[copy_of(world, plain)] == retention
    assert recording.retention[copy_of(world, kept)] is None  # kept permanently

    again = migrate()
    assert (again.found, again.moved, again.missing) == (1, 0, [gone.id])


def test_a_purge_that_clears_the_submission_while_it_is_copied_wins(world):
    made = legacy(world, f"{world.a}/people/racing.json")

    def purge() -> None:
        world.repos.transact(lambda t: t.mark_submission_purged(made.id, datetime.now(UTC)))

    report = migrate(store_=AfterCopy(wiring.blob_store(), purge))
    assert (report.found, report.moved, report.purged) == (1, 0, 1)
    assert submission(world, made).input_file is None
    assert not held(copy_of(world, made))


@pytest.mark.firestore
def test_a_change_while_it_is_copied_is_not_lost_and_the_input_still_moves(world):
    made = legacy(world, f"{world.a}/people/rerun.json")

    def rerun() -> None:  # another field changes meanwhile (a re-run adds its run)
        world.repos.document("submissions", made.id).update({"latest_run_id": "R" * 20})

    report = migrate(store_=AfterCopy(wiring.blob_store(), rerun))
    assert report.moved == 1
    moved = submission(world, made)
    assert (moved.input_file, moved.latest_run_id) == (copy_of(world, made), "R" * 20)


def test_a_run_stopped_after_its_copy_is_finished_by_the_next(world):
    made = legacy(world, f"{world.a}/people/stopped.json")

    class Stop(Exception):
        pass

    def stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        migrate(store_=AfterCopy(wiring.blob_store(), stop))
    assert submission(world, made).input_file == made.uri
    wiring.blob_store().delete(made.uri)  # and the original went before the next run
    assert migrate().moved == 1
    assert submission(world, made).input_file == copy_of(world, made)


def test_the_command_reports_its_counts(world, tmp_path, monkeypatch):
    from cli.main import main

    made = legacy(world, f"{world.a}/people/cli.json")
    monkeypatch.setenv("ASSAY_LOCAL_DIR", str(tmp_path))
    get_settings.cache_clear()
    done = CliRunner().invoke(main, ["admin", "migrate", "upload-inputs", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"found": 1, "moved": 1, "purged": 0, "missing": []}
    assert submission(world, made).input_file == copy_of(world, made)
    text = CliRunner().invoke(main, ["admin", "migrate", "upload-inputs"])
    assert text.exit_code == 0 and "0 submissions" in text.output


def test_stored_uris_name_objects_as_encoded_and_as_recorded_before():
    root = "gs://up"
    assert legacy_names(root, "gs://up/o/w/a.json#7") == [("o/w/a.json", 7)]
    assert legacy_names(root, "gs://up/o/w/a%2341.json#7") == [
        ("o/w/a#41.json", 7),
        ("o/w/a%2341.json", 7),
    ]
    # Recorded raw: the last `#` is the generation's, the others the name's.
    assert legacy_names(root, "gs://up/o/w/a#b.json#7") == [("o/w/a#b.json", 7)]
    assert legacy_names(root, "gs://up/o/w/%FF.json#7") == [("o/w/%FF.json", 7)]
    with pytest.raises(ValueError, match="generation"):
        split_uri("gs://up/o/w/a#b.json#7")  # the store refuses the raw form: never a name


@pytest.mark.firestore
def test_its_query_is_served_by_a_declared_index(repos, monkeypatch):
    """As test_firestore_indexes does for the repositories' own queries."""
    from pathlib import Path

    from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

    from tests.firestore_indexes import Declared, Shape, uncovered

    shapes: list[Shape] = []
    run_query = FirestoreClient.run_query

    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        request = kwargs["request"] if "request" in kwargs else args[0]
        shapes.append(Shape.of(request["structured_query"]))
        return run_query(self, *args, **kwargs)

    monkeypatch.setattr(FirestoreClient, "run_query", record)
    repos.upload_inputs.under("gs://uploads", 10)
    declared = Declared.load(Path(__file__).resolve().parents[2] / "infra/firestore.indexes.json")
    assert shapes and [uncovered(s, declared) for s in shapes] == [None]
