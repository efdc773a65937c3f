"""What a launch signs for an execution (decision record 0024): how long its URLs last,
which object and bucket each names, and the headers a create-only PUT is signed with."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.adapters.storage.layout import Layout
from shared.adapters.storage.signed import put_headers
from shared.contract.validator_jobs import JOBS
from shared.platform.config import Settings
from shared.services.launches import URL_GRACE, UrlSigner


@pytest.mark.parametrize(
    ("timeout", "lifetime"),
    [(60, timedelta(seconds=60) + URL_GRACE), (30 * 24 * 3600, timedelta(days=7))],
)
def test_a_url_lasts_the_steps_timeout_and_a_grace_at_most_a_week(timeout, lifetime):
    layout = Layout("gs://assay-content")
    assert UrlSigner(Settings(), object(), layout, timeout).lifetime == lifetime


def test_each_object_is_named_as_its_bucket_holds_it():
    gs = Layout("gs://assay-content")
    uri = gs.input_envelope("o", "r", 0, 1)
    assert gs.bucket_and_name(uri) == ("assay-content", "runs/o/r/steps/0/1/input.json")
    local = Layout("file:///srv/.local/storage")
    name = local.bundle_file("o", "r", "model.idf")
    assert local.bucket_and_name(name) == ("storage", "runs/o/r/model.idf")
    with pytest.raises(ValueError, match="not under"):
        gs.bucket_and_name("gs://assay-uploads/o/w/x")


def test_a_put_is_create_only_and_carries_its_retention():
    assert put_headers(None) == {"x-goog-if-generation-match": "0"}
    until = datetime(2027, 1, 2, 3, 4, 5, 6000, tzinfo=timezone(timedelta(hours=2)))
    assert put_headers(until)["x-goog-custom-time"] == "2027-01-02T01:04:05.006000Z"
    assert until.astimezone(UTC).hour == 1


def test_only_the_simulators_store_artifacts():
    assert {name: job.artifacts for name, job in JOBS.items()} == {
        "json-schema": (),
        "xml-schema": (),
        "shacl": (),
        "fmu": ("result.csv", "reference_comparison.csv"),
        "energyplus": (
            "eplusout.err",
            "eplusout.sql",
            "eplustbl.htm",
            "eplusout.csv",
            "reference_comparison.csv",
        ),
    }
