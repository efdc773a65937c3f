"""The hostile FMU (tests/fmus/hostile.py) on the real local stack, through the job
runner, the metadata server and the callback: its real output is y = 3 and the workflow
asks for y_final > 100. Probing the metadata server and the API, reading another org's
stored file and searching its environment gets it nothing, and the run FAILs on the
parent's own metrics; writing output.json wherever it can reach ends the run in ERROR,
with nothing it wrote kept anywhere in the stack's state."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import ROOT, wait_for

pytestmark = pytest.mark.e2e

OUTPUTS = ["y", "reached_network", "read_victim", "saw_secrets", "wrote", "forked"]


@pytest.fixture(scope="module")
def fmu(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("hostile-e2e")
    pythonfmu = str(Path(sys.executable).parent / "pythonfmu")
    source = str(ROOT / "tests/fmus/hostile.py")
    subprocess.run([pythonfmu, "build", "-f", source, "-d", str(folder)], check=True)
    return (folder / "Hostile.fmu").read_bytes()


def _run(stack: Any, org: Any, fmu: bytes, parameters: dict[str, Any]) -> dict[str, Any]:
    org_id, headers = org
    slug = f"hostile-{uuid.uuid4().hex[:8]}"
    step = {
        "name": "Simulate",
        "validator": "fmu",
        "config": {"stop_time": 1, "step_size": 0.5, "outputs": OUTPUTS, "parameters": parameters},
        "timeout_seconds": 120,
        "assertions": [{"expr": "metrics.y_final > 100", "message": "y must exceed 100"}],
    }
    body = {"name": slug, "slug": slug, "steps": [step]}
    base = f"{stack.api}/v1/orgs/{org_id}/workflows"
    assert requests.post(base, json=body, headers=headers, timeout=30).status_code == 201
    answer = requests.post(
        f"{base}/{slug}/runs",
        data=fmu,
        headers={**headers, "X-Filename": "Hostile.fmu", "Content-Type": "application/zip"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return wait_for(stack, org_id, headers, answer.json()["run"]["id"], timeout=120)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def test_probes_get_nothing_and_the_verdict_is_the_parents(stack, org, fmu):
    storage = Path(urlsplit(stack.env["ASSAY_STORAGE_URI"]).path)
    victim = storage / "submissions" / "another-org" / "s1" / "model.json"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text('{"secret": "of another org"}')
    hosts = f"{_host(stack.env['ASSAY_METADATA_URL'])},{_host(stack.api)}"
    run = _run(stack, org, fmu, {"mode": 0, "hosts": hosts, "victim": str(victim)})
    assert (run["status"], run["result"]) == ("FAILED", "FAIL"), run
    metrics = run["steps"][0]["metrics"]
    assert metrics["y_final"] == 3.0
    assert metrics["reached_network_max"] == 0.0
    assert metrics["read_victim_max"] == 0.0
    assert metrics["saw_secrets_max"] == 0.0


def _named_under(root: str, prefix: str) -> list[str]:
    """Every file or folder under `root` whose name starts with `prefix`. os.walk skips
    what vanishes while it looks: other tests' temporary folders come and go."""
    return [
        os.path.join(folder, name)
        for folder, folders, files in os.walk(root)
        for name in folders + files
        if name.startswith(prefix)
    ]


def test_what_it_writes_is_not_kept_and_makes_an_error(stack, org, fmu):
    marker = f"hostile-{uuid.uuid4().hex}"
    run = _run(stack, org, fmu, {"mode": 1, "marker": marker})
    assert (run["status"], run["result"]) == ("FAILED", "ERROR"), run
    assert "y_final" not in (run["steps"][0].get("metrics") or {})
    assert not list(stack.state.rglob(f"{marker}*"))
    assert not _named_under("/tmp", marker)
