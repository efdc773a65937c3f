"""The `assay` CLI as a user runs it: its own process, settings from .local/stack.env."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "assay")
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def cli(stack):
    """Runs `assay` with nothing but PATH, HOME and where the stack's settings are."""
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "ASSAY_LOCAL_DIR": str(stack.state),
    }

    def run(*args, key=None):
        env = {**base, **({"ASSAY_API_KEY": key} if key else {})}
        done = subprocess.run(
            [CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        return done

    return run


@pytest.fixture(scope="module")
def account(cli):
    org = json.loads(cli("admin", "create-org", "CLI team", "--json").stdout)
    key = json.loads(cli("admin", "create-key", "--org", org["id"], "--json").stdout)
    assert key["key"].startswith("assay_") and key["org_id"] == org["id"]
    applied = cli(
        "workflows",
        "apply",
        str(EXAMPLES / "people.workflow.json"),
        "--org",
        org["id"],
        "--json",
        key=key["key"],
    )
    assert json.loads(applied.stdout)["version"] == 1
    return org["id"], key["key"]


def one_json_object(text):
    value = json.loads(text)  # fails on anything but exactly one JSON document
    assert isinstance(value, dict)
    return value


def test_plain_output_prints_just_the_id(cli):
    done = cli("admin", "create-org", "Plain")
    assert done.returncode == 0 and len(done.stdout.strip()) == 20


def test_submit_and_wait_exit_codes(cli, account):
    org, key = account
    ok = cli(
        "submit",
        str(EXAMPLES / "valid-person.json"),
        "--org",
        org,
        "--workflow",
        "people",
        "--wait",
        "--json",
        key=key,
    )
    assert ok.returncode == 0, ok.stderr
    assert one_json_object(ok.stdout)["run"]["result"] == "PASS"
    bad = cli(
        "submit",
        str(EXAMPLES / "invalid-person.json"),
        "--org",
        org,
        "--workflow",
        "people",
        "--wait",
        "--json",
        key=key,
    )
    assert bad.returncode == 1
    body = one_json_object(bad.stdout)
    assert body["run"]["result"] == "FAIL"
    assert {f["path"] for f in body["findings"]} >= {"/email", "/age", "/tags/1"}

    shown = cli("runs", "show", body["run"]["id"], "--org", org, "--json", key=key)
    assert one_json_object(shown.stdout)["run"]["id"] == body["run"]["id"]
    table = cli("runs", "show", body["run"]["id"], "--org", org, key=key)
    assert "FAIL" in table.stdout and "/email" in table.stdout


def test_a_wait_that_times_out_exits_3(cli, account, tmp_path):
    org, key = account
    # On the job path: a fast-path run has ended before the answer, so no wait runs out.
    body = json.loads((EXAMPLES / "people.workflow.json").read_text())
    body.update(slug="people-job", execution="job")
    (tmp_path / "job.workflow.json").write_text(json.dumps(body))
    cli("workflows", "apply", str(tmp_path / "job.workflow.json"), "--org", org, key=key)
    done = cli(
        "submit",
        str(EXAMPLES / "valid-person.json"),
        "--org",
        org,
        "--workflow",
        "people-job",
        "--wait",
        "--timeout",
        "0",
        "--json",
        key=key,
    )
    assert done.returncode == 3
    assert one_json_object(done.stdout)["timed_out"] is True


def test_errors_are_one_json_object_too(cli, account):
    org, _ = account
    done = cli("runs", "show", "nope", "--org", org, "--json", key="assay_bad_key")
    assert done.returncode == 2
    assert "401" in one_json_object(done.stdout)["error"]
    missing_key = cli("runs", "show", "nope", "--org", org, "--json")
    assert "ASSAY_API_KEY" in one_json_object(missing_key.stdout)["error"]


def test_make_demo_runs_the_quickstart(tmp_path):
    env = {**os.environ, "ASSAY_LOCAL_DIR": str(tmp_path)}
    for key in [k for k in env if k.startswith(("ASSAY_API", "FIRESTORE", "GCE_"))]:
        env.pop(key)
    done = subprocess.run(
        [sys.executable, "-m", "devstack.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "'people/valid-person.json': 0, 'people/invalid-person.json': 1" in done.stdout
    # A Schematron use case, a SHACL model and a reference comparison among them.
    for shown in (
        "'buildingsync/buildingsync-l100-audit-incomplete.xml': 1",
        "'brick/brick-model-invalid.ttl': 1",
        "'tank-reference/Tank.fmu': 0",
        "resource tank-reference.csv uploaded to workflow tank-reference",
    ):
        assert shown in done.stdout
    assert "Demo complete" in done.stdout


def test_admin_schedules_list_pause_resume_and_run_on_the_stack(cli, stack):
    """The same google-cloud-scheduler client code as in the cloud, against the stand-in."""
    listed = one_json_object(cli("admin", "schedules", "list", "--json").stdout)["schedules"]
    assert {s["name"] for s in listed} == {"purge-expired", "process-purge-retries"}
    purge = next(s for s in listed if s["name"] == "purge-expired")
    assert purge["schedule"] == "0 * * * *" and purge["time_zone"] == "Etc/UTC"
    assert purge["target"] == stack.env["ASSAY_PURGE_URL"]
    assert purge["state"] == "ENABLED"

    paused = one_json_object(
        cli("admin", "schedules", "pause", "process-purge-retries", "--json").stdout
    )
    assert paused["schedule"]["state"] == "PAUSED"
    listed = one_json_object(cli("admin", "schedules", "list", "--json").stdout)["schedules"]
    assert {s["name"]: s["state"] for s in listed}["process-purge-retries"] == "PAUSED"
    resumed = cli("admin", "schedules", "resume", "process-purge-retries")
    assert resumed.returncode == 0 and "ENABLED" in resumed.stdout

    log = stack.state / "logs" / "scheduler.log"
    before = log.read_text().count("purge-expired -> 200")
    assert cli("admin", "schedules", "run", "purge-expired").returncode == 0
    deadline = time.monotonic() + 30
    while log.read_text().count("purge-expired -> 200") == before:
        assert time.monotonic() < deadline, "the purge function did not answer the run"
        time.sleep(0.2)

    missing = cli("admin", "schedules", "pause", "nope", "--json")
    assert missing.returncode != 0
    assert "no such schedule" in one_json_object(missing.stdout)["error"]


def test_rerun_and_cancel(cli, account):
    org, key = account
    first = one_json_object(
        cli(
            "submit",
            str(EXAMPLES / "invalid-person.json"),
            "--org",
            org,
            "--workflow",
            "people",
            "--wait",
            "--json",
            key=key,
        ).stdout
    )["run"]
    again = cli(
        "submissions",
        "rerun",
        first["submission_id"],
        "--org",
        org,
        "--user",
        "grace",
        "--wait",
        "--json",
        key=key,
    )
    assert again.returncode == 1, again.stderr  # the same content fails the same way
    rerun = one_json_object(again.stdout)["run"]
    assert rerun["id"] != first["id"] and rerun["user"] == "grace"
    assert (rerun["result"], rerun["summary"]) == (first["result"], first["summary"])

    finished = cli("runs", "cancel", rerun["id"], "--org", org, "--json", key=key)
    assert finished.returncode == 2
    refused = one_json_object(finished.stdout)
    assert refused["status"] == 409 and "already ended FAILED" in refused["error"]


def test_key_lifecycle_from_the_cli(cli, stack, account):
    org, _ = account
    made = one_json_object(
        cli(
            "admin", "create-key", "--org", org, "--name", "ci", "--expires-in", "90d", "--json"
        ).stdout
    )
    key = made["key"]
    assert made["expires_at"] and made["name"] == "ci"
    runs_url = f"{stack.api}/v1/orgs/{org}/runs"
    assert (
        requests.get(runs_url, headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code
        == 200
    )

    listed = one_json_object(cli("admin", "list-keys", "--org", org, "--json").stdout)["keys"]
    mine = next(k for k in listed if k["id"] == made["id"])
    assert mine["prefix"] == f"assay_{made['id']}_" and mine["last_used_at"] and mine["expires_at"]
    table = cli("admin", "list-keys", "--org", org)
    # All after the prefix: the secret is URL-safe base64 and may itself hold "_".
    secret = key.removeprefix(mine["prefix"])
    assert len(secret) >= 32
    assert secret not in table.stdout and secret not in json.dumps(listed)

    revoked = cli("admin", "revoke-key", made["id"], "--org", org, "--json")
    assert revoked.returncode == 0 and one_json_object(revoked.stdout)["key"]["revoked_at"]
    answer = requests.get(runs_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    assert cli("admin", "create-key", "--org", org, "--expires-in", "soon").returncode != 0


def test_a_file_over_the_api_limit_goes_by_signed_url_and_passes(cli, account, tmp_path):
    org, key = account
    tags = [f"t{i:07d}" for i in range(1_100_000)]
    big = tmp_path / "crowd.json"
    big.write_text(json.dumps({"name": "Ada", "email": "ada@example.com", "age": 36, "tags": tags}))
    assert big.stat().st_size > 10 * 1024 * 1024  # the API's own body limit
    done = cli(
        "submit", str(big), "--org", org, "--workflow", "people", "--wait", "--json", key=key
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = one_json_object(done.stdout)["run"]
    assert (run["status"], run["result"]) == ("SUCCEEDED", "PASS")
    submission = requests.get(
        f"{os.environ['ASSAY_API_URL']}/v1/orgs/{org}/submissions/{run['submission_id']}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ).json()
    assert (submission["original_filename"], submission["size_bytes"]) == (
        "crowd.json",
        big.stat().st_size,
    )


def test_a_resource_uploaded_from_the_cli_is_pinned_and_repinned(cli, account, tmp_path):
    org, key = account
    spec = json.loads((EXAMPLES / "orders.workflow.json").read_text())
    spec["slug"] = "orders-by-resource"
    first = tmp_path / "orders.json"
    first.write_text(json.dumps(spec))
    assert cli("workflows", "apply", str(first), "--org", org, key=key).returncode == 0

    schema = tmp_path / "order.xsd"
    schema.write_text(spec["steps"][0]["config"].pop("schema"))
    uploaded = cli(
        *("workflows", "upload-resource", str(schema)),
        *("--org", org, "--workflow", "orders-by-resource", "--json"),
        key=key,
    )
    assert uploaded.returncode == 0, uploaded.stderr
    assert one_json_object(uploaded.stdout)["new_version"] is None  # no version uses it yet
    spec["steps"][0]["config"]["schema_resource"] = "order.xsd"
    first.write_text(json.dumps(spec))
    assert "version 2" in cli("workflows", "apply", str(first), "--org", org, key=key).stdout

    schema.write_text(schema.read_text() + "<!-- a comment -->\n")
    again = cli(
        *("workflows", "upload-resource", str(schema), "--name", "order.xsd"),
        *("--org", org, "--workflow", "orders-by-resource"),
        key=key,
    )
    assert again.returncode == 0, again.stderr
    assert "resource order.xsd uploaded to workflow orders-by-resource; now at version 3" in (
        again.stdout
    )
    missing = cli(
        *("workflows", "upload-resource", str(schema)),
        *("--org", org, "--workflow", "no-such-workflow"),
        key=key,
    )
    assert missing.returncode == 2 and "404" in missing.stderr + missing.stdout
