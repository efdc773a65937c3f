"""Under DO_NOT_STORE nothing of the user's content outlives the run, and none of it is
in Firestore even while the run is in flight (decision record 0027).

One unique secret is placed as a JSON value and a JSON key (also a duplicated one), an
XML tag name (a schema violation and a tag mismatch), an EnergyPlus object name, and an
FMU variable's start value (a String parameter the simulation runs with, and a Real's
start no parser accepts). Each is submitted to all four validators on every path they
have: the fast path inline, the job path, and the upload trigger through a signed-URL
grant, all at once on one stack. While they run, a watcher reads every Firestore
collection over and over; once they have ended and been purged, every document of
every collection and subcollection, every stored object and upload, every log the stack
wrote and every file of this run in the temp folder is searched: zero hits. Each run
must also have been seen by the watcher before it ended, so the search during the run
is not vacuous.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, LocalStack, wait_for
from tests.factories import PROBE_SCHEMA, PROBE_XSD, every_document

pytestmark = pytest.mark.e2e

# EnergyPlus upper-cases object names in its messages: the secret is upper case, and
# every search ignores case.
SECRET = f"SECRET-{uuid.uuid4().hex.upper()}"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT"}
RETENTION = {"submission": "DO_NOT_STORE", "output": "STORE_30_DAYS"}

JSON_SCHEMA, XSD = PROBE_SCHEMA, PROBE_XSD


@dataclass
class Case:
    slug: str
    step: dict[str, Any]
    data: bytes
    filename: str
    content_type: str
    execution: str = "job"
    upload: bool = False
    run_id: str = ""
    run: dict[str, Any] = field(default_factory=dict)


def _json_cases() -> list[Case]:
    people = json.dumps({"name": SECRET, "notes": SECRET, "tags": [SECRET], SECRET: SECRET})
    twice = f'{{"name": 1, "{SECRET}": 1, "{SECRET}": 2}}'
    step = {"name": "Schema", "validator": "json-schema", "config": {"schema": JSON_SCHEMA}}
    cases = []
    for execution in ("inline", "job"):
        for name, text in (("people", people), ("twice", twice)):
            slug = f"leak-json-{name}-{execution}"
            data = text.encode()
            cases.append(Case(slug, step, data, "p.json", "application/json", execution))
    cases.append(Case("leak-json-upload", step, people.encode(), "p.json", "application/json"))
    cases[-1].upload = True
    return cases


def _xml_cases() -> list[Case]:
    step = {
        "name": "Schema",
        "validator": "xml-schema",
        "config": {"schema_type": "xsd", "schema": XSD},
    }
    unknown = f'<person age="{SECRET}">\n<{SECRET}>{SECRET}</{SECRET}>\n</person>'
    mismatch = f"<person>\n<name>x</{SECRET}>\n</person>"
    return [
        Case(
            f"leak-xml-{name}-{execution}",
            step,
            text.encode(),
            "p.xml",
            "application/xml",
            execution,
        )
        for execution in ("inline", "job")
        for name, text in (("unknown", unknown), ("mismatch", mismatch))
    ]


def _energyplus_case() -> Case:
    model = (ROOT / "examples" / "box-broken.idf").read_text()
    assert "Ghost" in model and "Room" in model
    model = model.replace("Ghost", SECRET).replace("Room", SECRET)
    step = {
        "name": "Simulate",
        "validator": "energyplus",
        "config": {"weather": "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw"},
        "timeout_seconds": 300,
    }
    return Case("leak-energyplus", step, model.encode(), "box.idf", "text/plain")


def _build_fmu() -> bytes:
    """tests/fmus/labelled.py built with pythonfmu, the secret as `label`'s start value
    (built in a folder that is gone before the search)."""
    source = (ROOT / "tests" / "fmus" / "labelled.py").read_text()
    pythonfmu = str(Path(sys.executable).parent / "pythonfmu")
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "labelled.py"
        script.write_text(source.replace('LABEL = "label"', f"LABEL = {SECRET!r}"))
        build = [pythonfmu, "build", "-f", str(script), "-d", work]
        subprocess.run(build, check=True, capture_output=True)
        return (Path(work) / "Labelled.fmu").read_bytes()


def _bad_start(fmu: bytes) -> bytes:
    """The same FMU with `gain`'s start value the secret: no parser accepts it as a Real."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(fmu)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "modelDescription.xml":
                assert b'start="1.5"' in data
                data = data.replace(b'start="1.5"', f'start="{SECRET}"'.encode())
            target.writestr(member, data)
    return out.getvalue()


def _fmu_cases() -> list[Case]:
    fmu = _build_fmu()
    assert SECRET.encode() in zipfile.ZipFile(io.BytesIO(fmu)).read("modelDescription.xml")
    step = {
        "name": "Simulate",
        "validator": "fmu",
        "config": {"stop_time": 1, "step_size": 0.5, "outputs": ["level"]},
        "timeout_seconds": 120,
    }
    return [
        Case("leak-fmu-label", step, fmu, "Labelled.fmu", "application/zip"),
        Case("leak-fmu-start", step, _bad_start(fmu), "Labelled.fmu", "application/zip"),
    ]


def _hits(value: Any) -> bool:
    return SECRET.lower() in json.dumps(value, default=str).lower()


class Watcher:
    """Reads every top-level collection, and every collection group, over and over
    while the runs are in flight: what carries the secret, and which runs were seen
    before they ended."""

    def __init__(self, db: Any, groups: set[str]) -> None:
        self.db, self.groups = db, groups
        self.hits: set[str] = set()
        self.seen_running: set[str] = set()
        self.passes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            collections = [*self.db.collections()]
            collections += [self.db.collection_group(g) for g in self.groups]
            for collection in collections:
                for snap in collection.stream():
                    document = snap.to_dict() or {}
                    if _hits(document):
                        self.hits.add(snap.reference.path)
                    if (
                        snap.reference.parent.id == "runs"
                        and document.get("status") not in TERMINAL
                    ):
                        self.seen_running.add(snap.id)
            self.passes += 1


def _workflow(stack: LocalStack, org: tuple[str, dict[str, str]], case: Case) -> None:
    org_id, headers = org
    body = {
        "name": case.slug,
        "slug": case.slug,
        "steps": [case.step],
        "retention": RETENTION,
        "execution": case.execution,
    }
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert answer.status_code == 201, answer.text


def _submit(stack: LocalStack, org: tuple[str, dict[str, str]], case: Case) -> None:
    org_id, headers = org
    base = f"{stack.api}/v1/orgs/{org_id}"
    if case.upload:
        case.run_id = _upload(stack, org, case)
        return
    answer = requests.post(
        f"{base}/workflows/{case.slug}/runs",
        data=case.data,
        headers={**headers, "Content-Type": case.content_type, "X-Filename": case.filename},
        timeout=60,
    )
    assert answer.status_code in (200, 201, 202), answer.text
    assert answer.json()["run"]["execution"] == case.execution
    case.run_id = answer.json()["run"]["id"]


def _upload(stack: LocalStack, org: tuple[str, dict[str, str]], case: Case) -> str:
    """Through a signed-URL grant and the upload trigger, as `assay upload` sends."""
    org_id, headers = org
    base = f"{stack.api}/v1/orgs/{org_id}"
    request = {
        "filename": case.filename,
        "content_type": case.content_type,
        "size_bytes": len(case.data),
    }
    grant = requests.post(
        f"{base}/workflows/{case.slug}/uploads", json=request, headers=headers, timeout=30
    )
    assert grant.status_code in (200, 201), grant.text
    sent = requests.put(
        grant.json()["url"], data=case.data, headers=grant.json()["headers"], timeout=30
    )
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        event = requests.get(
            f"{base}/uploads/{grant.json()['upload_id']}", headers=headers, timeout=10
        )
        if event.status_code == 200 and event.json().get("run_id"):
            return str(event.json()["run_id"])
        time.sleep(0.2)
    raise AssertionError(f"the upload started no run: {event.text}")


def _settle(stack: LocalStack, org: tuple[str, dict[str, str]], case: Case) -> None:
    """The run's end, and its content's purge."""
    org_id, headers = org
    case.run = wait_for(stack, org_id, headers, case.run_id, timeout=240)
    url = f"{stack.api}/v1/orgs/{org_id}/submissions/{case.run['submission_id']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if requests.get(url, headers=headers, timeout=10).json()["content_purged_at"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{case.slug}: the content was not purged")


def _scratch() -> list[Path]:
    """The temp folder's entries (engines' and jobs' scratch), but pytest's own, which
    hold other tests' stacks; this test's stack is searched whole on its own."""
    return [p for p in Path(tempfile.gettempdir()).iterdir() if not p.name.startswith("pytest-")]


def _files_with_secret(roots: list[Path], since: float) -> list[str]:
    needle = SECRET.lower().encode()
    found = []
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            try:
                if not path.is_file() or path.is_symlink() or path.stat().st_mtime < since:
                    continue
                if path.stat().st_size < 256 * 1024 * 1024 and needle in path.read_bytes().lower():
                    found.append(str(path))
            except OSError:  # gone while we looked (another test's scratch)
                continue
    return found


def test_a_do_not_store_secret_is_never_stored(
    stack: LocalStack, org: tuple[str, dict[str, str]]
) -> None:
    from shared import wiring

    started = time.time()
    cases = [*_json_cases(), *_xml_cases(), _energyplus_case(), *_fmu_cases()]
    for case in cases:
        _workflow(stack, org, case)
    db = wiring.repositories().db
    groups = {c.id for snap in every_document(db) for c in snap.reference.collections()}
    watcher = Watcher(db, groups | {"findings", "artifacts"})
    watcher.thread.start()
    try:
        with ThreadPoolExecutor(len(cases)) as pool:
            queued = [c for c in cases if c.execution != "inline"]
            list(pool.map(lambda c: _submit(stack, org, c), queued))
            # One at a time: an org's concurrent inline checks are limited (over the
            # limit a file takes the job path), and these must run inline.
            for case in cases:
                if case.execution == "inline":
                    _submit(stack, org, case)
            list(pool.map(lambda c: _settle(stack, org, c), cases))
    finally:
        watcher.stop.set()
        watcher.thread.join(timeout=60)

    for case in cases:  # the label travels; every other file is refused
        expected = "SUCCEEDED" if case.slug == "leak-fmu-label" else "FAILED"
        assert case.run["status"] == expected, (case.slug, case.run)
    job_runs = {c.run_id for c in cases if c.execution == "job"}
    assert job_runs <= watcher.seen_running, "the watcher did not see every job-path run in flight"
    assert watcher.passes >= 2
    assert watcher.hits == set(), f"Firestore carried the secret during a run: {watcher.hits}"

    org_id, headers = org
    for case in cases:
        findings = requests.get(
            f"{stack.api}/v1/orgs/{org_id}/runs/{case.run_id}/findings", headers=headers, timeout=10
        ).json()["items"]
        assert findings or case.slug == "leak-fmu-label", case.slug
        assert not _hits(findings), (case.slug, findings)
    after = [s.reference.path for s in every_document(db) if _hits(s.to_dict())]
    assert after == [], f"Firestore documents carry the secret: {after}"

    roots = [stack.state, *_scratch()]
    assert _files_with_secret(roots, started) == [], "files of the stack carry the secret"
