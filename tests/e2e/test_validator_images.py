"""Each validator image holds only what its job needs. With no Docker here, the test lays
out exactly what the Dockerfile copies, installs the validator's requirements.txt into a
clean virtualenv, and has the local stack's job runner run the job from that folder with
that Python, end to end: submit → launch → the job → callback → result."""

from __future__ import annotations

import json
import mimetypes
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devstack import units
from tests.dockerfile import lay_out
from tests.e2e.conftest import ROOT, start_stack, stop_stack, wait_for

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "assay")
# For each validator job: a workflow file and a file it passes and one it fails. A new
# validator adds its entry here (the first test insists).
SAMPLES = {
    "validator-json-schema": (
        "examples/people.workflow.json",
        "examples/valid-person.json",
        "examples/invalid-person.json",
    ),
    "validator-energyplus": (
        "examples/box.workflow.json",
        "examples/box.idf",
        "examples/box-broken.idf",
    ),
    "validator-fmu": (
        "examples/tank.workflow.json",
        "examples/Tank.fmu",
        "examples/TankFailing.fmu",
    ),
    "validator-xml-schema": (
        "examples/orders.workflow.json",
        "examples/valid-order.xml",
        "examples/invalid-order.xml",
    ),
    "validator-shacl": (
        "examples/brick.workflow.json",
        "examples/brick-model.ttl",
        "examples/brick-model-invalid.ttl",
    ),
}
# What is Assay's own but no job's business.
NOT_IN_AN_IMAGE = (
    "shared/persistence",
    "shared/services",
    "shared/domain",
    "shared/catalog",
    "shared/api",
    "shared/wiring.py",
    "shared/adapters/jobs.py",
    "shared/adapters/tasks.py",
    "shared/adapters/signing.py",
    "devstack",
    "functions",
    "cli",
)


def test_every_validator_job_has_samples():
    assert sorted(j["name"] for j in units.load().jobs) == sorted(SAMPLES)


def _build(job: dict, root: Path) -> tuple[Path, Path]:
    """The image's files laid out under `root`, and its requirements in a clean venv."""
    workdir = lay_out(ROOT / job["dockerfile"], ROOT, root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    reqs, constraints = root / "tmp/requirements.txt", root / "tmp/constraints.txt"
    subprocess.run([*pip, "-r", str(reqs), "-c", str(constraints)], check=True, timeout=900)
    return workdir, venv


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Every validator image, built side by side (each install mostly waits on disk)."""
    jobs = units.load().jobs
    # Made once before the threads: their first calls would each make a base folder.
    tmp_path_factory.getbasetemp()
    with ThreadPoolExecutor(len(jobs)) as pool:
        built = pool.map(lambda j: _build(j, tmp_path_factory.mktemp(j["name"])), jobs)
        return {j["name"]: layout for j, layout in zip(jobs, built, strict=True)}


@pytest.fixture(params=[j["name"] for j in units.load().jobs])
def image(request, images):
    return (request.param, *images[request.param])


@pytest.fixture(scope="module")
def image_stack(images, tmp_path_factory):
    """One local stack whose job runner runs every validator job from its image."""
    state = tmp_path_factory.mktemp("image-stack")
    spec = " ".join(
        f"{job}={venv / 'bin/python'}:{workdir}" for job, (workdir, venv) in images.items()
    )
    stack = start_stack(state, {"ASSAY_JOB_IMAGES": spec})
    yield stack
    stop_stack(stack)


def test_the_image_holds_the_runtime_and_contract_only(image):
    _, workdir, _ = image
    present = {str(p.relative_to(workdir)) for p in workdir.rglob("*")}
    assert {
        "validators/runtime.py",
        "shared/contract/envelopes.py",
        "shared/adapters/storage/gcs.py",
    } <= present
    assert not [p for p in present if p.startswith(NOT_IN_AN_IMAGE)]


def cli(state, *args, key=None):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(ASSAY_LOCAL_DIR=str(state), **({"ASSAY_API_KEY": key} if key else {}))
    return subprocess.run([CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True)


def _pass_and_fail(stack, body, samples, tmp_path):
    """Applies workflow `body` as a job workflow in a new org and runs each (name, bytes)
    sample: the results, and the image folders its jobs ran from."""
    state = stack.state
    org = json.loads(cli(state, "admin", "create-org", "Images", "--json").stdout)["id"]
    key = json.loads(cli(state, "admin", "create-key", "--org", org, "--json").stdout)
    # The job path, whatever the example says: this test is about the image.
    (tmp_path / "job.workflow.json").write_text(json.dumps({**body, "execution": "job"}))
    applied = cli(
        state,
        "workflows",
        "apply",
        str(tmp_path / "job.workflow.json"),
        "--org",
        org,
        "--json",
        key=key["key"],
    )
    slug = json.loads(applied.stdout)["slug"]
    headers = {"Authorization": f"Bearer {key['key']}"}
    results = []
    for name, data in samples:
        answer = requests.post(
            f"{stack.api}/v1/orgs/{org}/workflows/{slug}/runs",
            data=data,
            headers={
                **headers,
                "X-Filename": name,
                "Content-Type": mimetypes.guess_type(name)[0] or "application/octet-stream",
            },
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        run = wait_for(stack, org, headers, answer.json()["run"]["id"])
        results.append(run["result"])
    ran_from = {e["folder"] for e in stack.executions() if f"/runs/{org}/" in e["input_uri"]}
    return results, ran_from


def test_the_image_runs_a_job_end_to_end(image, image_stack, tmp_path):
    job, workdir, _ = image
    workflow, good, bad = SAMPLES[job]
    body = json.loads((ROOT / workflow).read_text())
    samples = [(Path(s).name, (ROOT / s).read_bytes()) for s in (good, bad)]
    results, ran_from = _pass_and_fail(image_stack, body, samples, tmp_path)
    assert results == ["PASS", "FAIL"]
    assert ran_from == {str(workdir)}


XSLT2 = """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <pattern><rule context="*" id="lower">
    <assert test="matches(local-name(), '^[a-z]+$')">names are lower case</assert>
  </rule></pattern>
</schema>"""


@pytest.mark.parametrize("case", ["buildingsync", "xslt2"])
def test_the_xml_image_runs_built_in_and_xslt2_schematrons(case, images, image_stack, tmp_path):
    """The image carries the built-in BuildingSync schemas and SchXslt2, and Saxon runs
    in its job's sandbox."""
    workdir, _ = images["validator-xml-schema"]
    if case == "buildingsync":
        body = json.loads((ROOT / "examples/buildingsync.workflow.json").read_text())
        samples = [
            (name, (ROOT / "examples" / name).read_bytes())
            for name in ("buildingsync-l100-audit.xml", "buildingsync-l100-audit-incomplete.xml")
        ]
    else:
        config = {"schema_type": "schematron", "schema": XSLT2}
        body = {
            "name": "Names",
            "slug": "names",
            "steps": [{"name": "Names", "validator": "xml-schema", "config": config}],
        }
        samples = [("good.xml", b"<a><b/></a>"), ("bad.xml", b"<a><Bad/></a>")]
    results, ran_from = _pass_and_fail(image_stack, body, samples, tmp_path)
    assert results == ["PASS", "FAIL"]
    assert ran_from == {str(workdir)}
