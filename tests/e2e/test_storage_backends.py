"""The core path on both storage backends of the real local stack: `file://` (the
default `make up`) and `gs://` buckets on gcp-storage-emulator (`ASSAY_STACK_STORAGE=gcs`),
through the API and through the upload trigger (`assay upload`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from shared.adapters.storage.local import path_of
from tests.e2e.conftest import ROOT, start_stack, stop_stack, wait_for
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "assay")
VALID = b'{"name": "Ada", "email": "ada@example.com", "age": 36}'
INVALID = b'{"name": "", "email": "nope", "age": -1}'
LARGE_SECRET = b'{"name": "Ada", "pad": "' + b"s" * (70 * 1024) + b'"}'
UPLOADER = "user:backends@example.com"


def cli(stack, *args, key=None):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env["ASSAY_LOCAL_DIR"] = str(stack.state)
    if key:
        env["ASSAY_API_KEY"] = key
    return subprocess.run(
        [CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module", params=["file", "gcs"])
def backend(request, tmp_path_factory):
    """A stack on the given storage, an org, a key and two workflows in it."""
    if request.param == "file":
        stack, own = request.getfixturevalue("stack"), None
    else:
        stack = own = start_stack(tmp_path_factory.mktemp("gcs"), {"ASSAY_STACK_STORAGE": "gcs"})
    try:
        org = json.loads(cli(stack, "admin", "create-org", "Backends", "--json").stdout)["id"]
        key = json.loads(cli(stack, "admin", "create-key", "--org", org, "--json").stdout)["key"]
        # `assay upload --direct` writes the object itself: only an uploader of the org may.
        added = cli(stack, "admin", "uploaders", "add", "--org", org, UPLOADER, "--json")
        assert added.returncode == 0, added.stdout + added.stderr
        headers = {"Authorization": f"Bearer {key}"}
        secret = workflow_body(
            "secret", retention={"submission": "DO_NOT_STORE", "output": "DO_NOT_STORE"}
        )
        for body in (workflow_body("people"), secret):
            answer = requests.post(
                f"{stack.api}/v1/orgs/{org}/workflows", json=body, headers=headers, timeout=30
            )
            assert answer.status_code == 201, answer.text
        yield SimpleNamespace(name=request.param, stack=stack, org=org, key=key, headers=headers)
    finally:
        if own is not None:
            stop_stack(own)


def submit(b, data, slug="people"):
    answer = requests.post(
        f"{b.stack.api}/v1/orgs/{b.org}/workflows/{slug}/runs",
        data=data,
        headers={**b.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return wait_for(b.stack, b.org, b.headers, answer.json()["run"]["id"])


def objects(b, prefix):
    """Names of the stored objects under `prefix` of the content or uploads location."""
    root_name, _, rest = prefix.partition(":")
    root = b.stack.env["ASSAY_STORAGE_URI" if root_name == "content" else "ASSAY_UPLOADS_URI"]
    if root.startswith("file://"):
        base = path_of(root)
        return (
            sorted(str(p.relative_to(base)) for p in (base / rest).rglob("*") if p.is_file())
            if (base / rest).exists()
            else []
        )
    from google.cloud.storage import Client

    os.environ["STORAGE_EMULATOR_HOST"] = b.stack.env["STORAGE_EMULATOR_HOST"]
    try:
        return sorted(o.name for o in Client().list_blobs(root[len("gs://") :], prefix=rest))
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]


def purged(b, submission_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        submission = requests.get(
            f"{b.stack.api}/v1/orgs/{b.org}/submissions/{submission_id}",
            headers=b.headers,
            timeout=10,
        ).json()
        if submission["content_purged_at"]:
            return submission
        time.sleep(0.1)
    raise AssertionError(f"submission {submission_id} was not purged within {timeout}s")


def test_a_valid_file_passes(backend):
    run = submit(backend, VALID)
    assert (run["status"], run["result"]) == ("SUCCEEDED", "PASS")


def test_an_invalid_file_fails_with_findings(backend):
    run = submit(backend, INVALID)
    assert (run["result"], run["summary"]["error_count"]) == ("FAIL", 3)
    findings = requests.get(
        f"{backend.stack.api}/v1/orgs/{backend.org}/runs/{run['id']}/findings",
        headers=backend.headers,
        timeout=10,
    ).json()["items"]
    assert sorted(f["path"] for f in findings) == ["/age", "/email", "/name"]


def test_do_not_store_content_and_every_copy_are_purged(backend):
    run = submit(backend, LARGE_SECRET, slug="secret")
    assert run["result"] == "PASS"
    submission = purged(backend, run["submission_id"])
    assert submission["checksum_sha256"] and submission["size_bytes"] == len(LARGE_SECRET)
    org = backend.org
    assert objects(backend, f"content:submissions/{org}/{run['submission_id']}/") == []
    assert objects(backend, f"content:runs/{org}/{run['id']}/") == []


def test_an_uploaded_file_is_validated_and_a_bad_name_is_refused(backend):
    done = cli(
        backend.stack,
        *("upload", str(ROOT / "examples/invalid-person.json"), "--org", backend.org),
        *("--workflow", "people", "--direct", "--wait", "--json"),
        key=backend.key,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # FAIL
    result = json.loads(done.stdout)
    assert result["run"]["result"] == "FAIL" and result["findings"]
    refused = cli(
        backend.stack,
        *("upload", str(ROOT / "examples/valid-person.json"), "--org", backend.org),
        *("--workflow", "no-such-flow", "--direct", "--wait", "--json"),
        key=backend.key,
    )
    assert refused.returncode == 2
    assert "workflow 'no-such-flow' does not exist" in json.loads(refused.stdout)["error"]
    assert objects(backend, f"uploads:{backend.org}/no-such-flow/") == []


def test_a_do_not_store_upload_is_deleted_after_its_run(backend, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_bytes(VALID)
    done = cli(
        backend.stack,
        *("upload", str(secret), "--org", backend.org, "--workflow", "secret"),
        *("--wait", "--json", "--user", "ada@example.com"),
        key=backend.key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(done.stdout)["run"]
    assert run["user"] == "ada@example.com"
    purged(backend, run["submission_id"])
    assert objects(backend, f"uploads:{backend.org}/secret/") == []
    assert objects(backend, f"content:runs/{backend.org}/{run['id']}/") == []


def test_a_signed_url_upload_runs_and_under_do_not_store_is_deleted(backend, tmp_path):
    secret = tmp_path / "signed.json"
    secret.write_bytes(VALID)
    done = cli(
        backend.stack,
        *("submit", str(secret), "--org", backend.org, "--workflow", "secret"),
        *("--signed-url", "--wait", "--json"),
        key=backend.key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(done.stdout)["run"]
    assert run["result"] == "PASS"
    purged(backend, run["submission_id"])
    assert objects(backend, f"uploads:{backend.org}/secret/") == []
    assert objects(backend, f"content:runs/{backend.org}/{run['id']}/") == []


def test_a_direct_upload_into_an_org_with_no_uploaders_starts_no_run(backend):
    stack = backend.stack
    org = json.loads(cli(stack, "admin", "create-org", "Nobody", "--json").stdout)["id"]
    key = json.loads(cli(stack, "admin", "create-key", "--org", org, "--json").stdout)["key"]
    listed = json.loads(cli(stack, "admin", "uploaders", "list", "--org", org, "--json").stdout)
    assert listed == {"uploaders": []}
    refused = cli(
        stack,
        *("upload", str(ROOT / "examples/valid-person.json"), "--org", org),
        *("--workflow", "people", "--direct", "--wait", "--json"),
        key=key,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "has no uploaders" in json.loads(refused.stdout)["error"]
    assert objects(backend, f"uploads:{org}/") == []
    # The same file through a grant to the org's key needs no uploader.
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org}/workflows",
        json=workflow_body("people"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    granted = cli(
        stack,
        *("upload", str(ROOT / "examples/valid-person.json"), "--org", org),
        *("--workflow", "people", "--wait", "--json"),
        key=key,
    )
    assert granted.returncode == 0, granted.stdout + granted.stderr
    assert json.loads(granted.stdout)["run"]["result"] == "PASS"
