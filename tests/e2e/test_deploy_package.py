"""What `make stage` writes is all that Cloud Functions gets: a clean virtualenv with
nothing but the staged requirements.txt imports every module and serves every entry
point from the staged folder, and on Google Cloud a missing setting stops it at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack import units
from devstack.net import free_port, wait_http
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

PIN = re.compile(r"^[a-z0-9][a-z0-9-]*==[0-9][0-9A-Za-z.+-]*$")


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    base = tmp_path_factory.mktemp("deploy")
    folder = base / "functions"
    subprocess.run([sys.executable, "tools/stage.py", str(folder)], cwd=ROOT, check=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(folder / "requirements.txt")], check=True, timeout=900)
    return folder, venv


def clean_env(**extra: str) -> dict[str, str]:
    """Nothing of this repository: no PYTHONPATH, no emulator, no ASSAY_ settings."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **extra}


def test_the_staged_folder_is_the_product_and_nothing_else(staged):
    folder, _ = staged
    assert sorted(p.name for p in folder.iterdir()) == [
        "handlers",
        "main.py",
        "requirements.txt",
        "shared",
        "validators",
    ]
    # The fast path's validators, whole packages but for what only their job images use;
    # the engines stay in their images.
    shipped = {
        str(p.relative_to(folder / "validators")) for p in (folder / "validators").rglob("*")
    }
    runtime = ("payload.py", "redaction.py", "runtime.py", "sandbox.py", "sandbox_child.py")
    assert {"__init__.py", *runtime, "sandboxed_python.py"} <= shipped
    assert {p.split("/")[0] for p in shipped if "/" in p} == {"json_schema", "shacl", "xml_schema"}
    assert {"xml_schema/schxslt2/transpile.xsl", "xml_schema/schxslt2/LICENSE"} <= shipped
    assert "xml_schema/builtin/buildingsync/ASHRAE_211/L100_Audit-1.0.0.sch" in shipped
    assert not [p for p in shipped if p.rsplit("/", 1)[-1] in ("__main__.py", "Dockerfile")]
    assert not [p for p in shipped if p.endswith("requirements.txt")]
    assert not {"energyplus", "fmu"} & {p.split("/")[0] for p in shipped}
    assert not list(folder.rglob("__pycache__"))
    lines = [line for line in (folder / "requirements.txt").read_text().splitlines() if line]
    pins = [line for line in lines if not line.startswith("#")]
    assert pins and all(PIN.match(line) for line in pins), pins
    names = {line.split("==")[0] for line in pins}
    assert {"functions-framework", "google-cloud-firestore", "google-cloud-storage"} <= names
    assert "croniter" not in names and "click" in names  # click comes with Flask
    for forbidden in ("devstack", "tests", "cli", "functions"):
        assert not (folder / forbidden).exists()


def test_every_module_imports_in_a_clean_virtualenv(staged):
    folder, venv = staged
    modules = sorted(
        ".".join(p.relative_to(folder).with_suffix("").parts).removesuffix(".__init__")
        for p in folder.rglob("*.py")
    )
    script = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
    done = subprocess.run(
        [str(venv / "bin/python"), "-c", script, *modules],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert len(modules) > 30
    absent = subprocess.run(
        [str(venv / "bin/python"), "-c", "import devstack"], cwd=folder, env=clean_env()
    )
    assert absent.returncode != 0


def serve(staged, target: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    folder, venv = staged
    port = free_port()
    process = subprocess.Popen(
        [
            *(str(venv / "bin/functions-framework"), "--source", str(folder / "main.py")),
            *("--target", target, "--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=folder.parent,
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


def upload_event() -> tuple[dict[str, str], bytes]:
    event = CloudEvent(
        {
            "type": "google.cloud.storage.object.v1.finalized",
            "source": "//storage.googleapis.com/projects/_/buckets/uploads",
            "datacontenttype": "application/json",
        },
        {"bucket": "uploads", "name": "o/w/f.json", "generation": "1", "size": "2"},
    )
    return to_binary(event)


@pytest.mark.parametrize("unit", units.load().functions, ids=lambda u: u.name)
def test_each_entry_point_answers_from_the_staged_folder(staged, unit):
    process, url = serve(staged, unit.entry_point)
    try:
        wait_http(url + "/", timeout=60, process=process)
        if unit.trigger == "https-public":
            answer = requests.get(url + "/healthz", timeout=10)
            assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
        elif unit.trigger == "https-iap":
            # Behind IAP: its health answers, a page without IAP's assertion does not.
            assert requests.get(url + "/healthz", timeout=10).status_code == 200
            assert requests.get(url + "/", timeout=10).status_code == 401
        elif unit.trigger == "https-private":
            answer = requests.post(url + "/", json={}, timeout=10)
            assert answer.status_code == 401
            assert answer.headers["Content-Type"] == "application/problem+json"
        else:
            headers, body = upload_event()
            answer = requests.post(url + "/", data=body, headers=headers, timeout=10)
            assert answer.status_code == 401
            assert "Google ID token" in answer.json()["detail"]
    finally:
        process.kill()
        process.wait()


def test_on_google_cloud_a_function_missing_its_settings_does_not_start(staged):
    process, _ = serve(staged, "launch", K_SERVICE="launch")
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode != 0
    assert "ASSAY_LAUNCH_URL is not set" in output
    assert "ASSAY_STORAGE_URI is not set" in output
