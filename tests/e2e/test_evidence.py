"""Evidence on the whole local stack: a job run's manifest names, for each step, the
image the job-runner stand-in reports (`local/<job>@sha256:<digest of the job's
folder>`, recomputed here from the folder itself), the sha256 of the output.json the
callback read, and it is what `assay runs evidence` prints."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import rfc8785

from tests.e2e.conftest import ROOT, wait_for
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "assay")
VALID = b'{"name": "Ada", "email": "ada@example.com", "age": 36}'


def folder_digest(folder: Path) -> str:
    """The stand-in's image digest as README's Evidence section defines it."""
    lines = hashlib.sha256()
    files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        name = path.relative_to(folder).as_posix()
        lines.update(f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return lines.hexdigest()


def _evidence(stack: Any, org_id: str, headers: dict[str, str], run_id: str) -> Any:
    url = f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}/evidence"
    return requests.get(url, headers=headers, timeout=10)


def test_job_steps_carry_the_stand_ins_image_digest(stack: Any, org: Any) -> None:
    org_id, headers = org
    body = workflow_body("evidence-two", steps=2)
    created = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    submitted = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/evidence-two/runs",
        data=VALID,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    run = wait_for(stack, org_id, headers, submitted.json()["run"]["id"])
    assert run["result"] == "PASS"
    answer = _evidence(stack, org_id, headers, run["id"])
    assert answer.status_code == 200, answer.text
    manifest = answer.json()

    executions = {e["name"]: e for e in stack.executions()}
    for step, recorded in zip(manifest["steps"], run["steps"], strict=True):
        execution = executions[recorded["execution_name"]]
        folder = Path(execution["folder"]) / "validators" / "json_schema"
        expected = f"local/validator-json-schema@sha256:{folder_digest(folder)}"
        assert step["image"] == expected
        assert execution["template"]["containers"][0]["image"] == expected
        assert step["engine"]["name"] in ("jsonschema-rs", "jsonschema")
        assert step["status"] == "PASSED" and len(step["output_sha256"]) == 64
    assert manifest["input"]["sha256"] == hashlib.sha256(VALID).hexdigest()

    # The command line prints the same manifest.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "ASSAY_LOCAL_DIR": str(stack.state),
        "ASSAY_API_KEY": headers["Authorization"].removeprefix("Bearer "),
    }
    argv = [CLI, "runs", "evidence", run["id"], "--org", org_id]
    done = subprocess.run(
        [*argv, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == manifest
    shown = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert hashlib.sha256(rfc8785.dumps(manifest)).hexdigest() in shown.stdout
