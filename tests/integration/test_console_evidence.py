"""The console's run page shows a finished run's evidence (its digests, a link to the
JSON), the JSON is the API's manifest, and a run still going says when it will have one."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785

from shared.domain.evidence import digest
from tests.integration.console_harness import STRANGER, VIEWER, ConsoleHarness
from tests.integration.test_console_run import _end, _start


@pytest.fixture
def site(dispatcher: Any, console: ConsoleHarness) -> ConsoleHarness:
    return console


def test_a_finished_run_shows_its_evidence_and_links_the_json(site: ConsoleHarness) -> None:
    run = _start(site)
    base = f"/orgs/{site.org}/runs/{run.id}"
    going = site.get(base, VIEWER).get_data(as_text=True)
    assert "Recorded when the run ends." in going
    assert site.get(base + "/evidence.json", VIEWER).status_code == 409

    _end(run)
    manifest = site.repos.evidence.find(site.org, run.id)
    page = site.get(base, VIEWER).get_data(as_text=True)
    assert 'id="evidence"' in page and f'href="{base}/evidence.json"' in page
    assert digest(manifest) in page and manifest.input.sha256 in page
    assert manifest.steps[0].findings_sha256 in page
    served = site.get(base + "/evidence.json", VIEWER)
    assert served.status_code == 200
    assert hashlib.sha256(rfc8785.dumps(served.get_json())).hexdigest() == digest(manifest)
    assert site.get(base + "/evidence.json", STRANGER).status_code in (403, 404)
