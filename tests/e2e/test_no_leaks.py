"""Under DO_NOT_STORE nothing of the user's content outlives the run: a unique secret
is submitted through the API and the upload trigger, and after the runs end and their
purges, every Firestore document, every stored object and every log line of the stack
is searched for it. Zero hits."""

import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "integer"},
        "notes": {"type": "string", "maxLength": 3},
        "tags": {"type": "array", "items": {"enum": ["ok"]}},
    },
    "additionalProperties": False,
}


def _documents(db):
    """Every document of every collection, subcollections included."""
    stack = list(db.collections())
    while stack:
        collection = stack.pop()
        for snap in collection.stream():
            yield snap
            stack.extend(snap.reference.collections())


def _purged(stack, org_id, headers, run):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        submission = requests.get(
            f"{stack.api}/v1/orgs/{org_id}/submissions/{run['submission_id']}",
            headers=headers,
            timeout=10,
        ).json()
        if submission["content_purged_at"]:
            return
        time.sleep(0.1)
    raise AssertionError("the content was not purged")


def test_a_do_not_store_secret_is_nowhere_after_the_run(stack, org):
    org_id, headers = org
    secret = f"SECRET-{uuid.uuid4().hex}"
    body = {
        "name": "Leak check",
        "slug": "leak-check",
        "steps": [{"name": "Schema", "validator": "json-schema", "config": {"schema": SCHEMA}}],
        "retention": {"submission": "DO_NOT_STORE", "output": "STORE_30_DAYS"},
    }
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert answer.status_code == 201, answer.text
    content = json.dumps(
        {"name": secret, "notes": secret, "tags": [secret], secret: secret}
    ).encode()
    submitted = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/leak-check/runs",
        data=content,
        headers={**headers, "Content-Type": "application/json", "X-Filename": "people.json"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    run = wait_for(stack, org_id, headers, submitted.json()["run"]["id"])
    assert run["result"] == "FAIL" and run["summary"]["error_count"] == 4
    _purged(stack, org_id, headers, run)

    uploads = Path(stack.env["ASSAY_UPLOADS_URI"].removeprefix("file://"))
    target = uploads / org_id / "leak-check" / "dropped.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    deadline = time.monotonic() + 30
    uploaded = None
    while time.monotonic() < deadline and uploaded is None:
        runs = requests.get(
            f"{stack.api}/v1/orgs/{org_id}/runs?workflow=leak-check", headers=headers, timeout=10
        ).json()["items"]
        uploaded = next((r for r in runs if r["id"] != run["id"]), None)
        time.sleep(0.2)
    assert uploaded is not None, "the upload was not submitted"
    uploaded = wait_for(stack, org_id, headers, uploaded["id"])
    _purged(stack, org_id, headers, uploaded)
    findings = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run['id']}/findings", headers=headers, timeout=10
    ).json()["items"]
    assert {f["code"] for f in findings} == {
        "schema.type",
        "schema.maxLength",
        "schema.enum",
        "schema.additionalProperties",
    }

    from shared import wiring

    hits = [
        s.reference.path
        for s in _documents(wiring.repositories().db)
        if secret in json.dumps(s.to_dict(), default=str)
    ]
    assert hits == [], f"Firestore documents carry the secret: {hits}"
    storage = Path(stack.env["ASSAY_STORAGE_URI"].removeprefix("file://"))
    objects = [
        p
        for root in (storage, uploads)
        for p in root.rglob("*")
        if p.is_file() and secret.encode() in p.read_bytes()
    ]
    assert objects == [], f"stored objects carry the secret: {objects}"
    logs = [
        p.name for p in (stack.state / "logs").rglob("*.log") if secret.encode() in p.read_bytes()
    ]
    assert logs == [], f"log files carry the secret: {logs}"
