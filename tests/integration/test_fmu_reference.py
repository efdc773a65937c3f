"""An fmu step with a reference, through the API as a user sets one up: the reference CSV
uploaded as a workflow resource, the workflow saved naming it in `reference.resource`
(pinned, its content checked at save: a malformed one is a 422 saying where), a run of
examples/Tank.fmu submitted, its launch's bundle and input made as the launch makes them,
the real validator run on that input (fmpy in the sandbox), and its output taken by the
callback: the run shows the errors as metrics, the mismatch as a finding and the
comparison CSV as an artifact."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.contract.envelopes import CallbackBody, ValidatorRef
from shared.domain.task_bodies import LaunchTask
from shared.platform.config import get_settings
from shared.services.callbacks import handle_callback
from shared.services.launches import (
    _claim,
    _copy_into_bundle,
    _copy_resources,
    input_envelope,
)
from validators.fmu.validator import validate
from validators.runtime import _fetch, _write_output, produce_output

ROOT = Path(__file__).resolve().parents[2]
TANK = ROOT / "examples" / "Tank.fmu"
SLUG = "tank-reference"
# level = 2 t; the reference is 2 % high at 1.5 s, within 0.1 % everywhere else.
REFERENCE = b'"time","level"\n0,0\n0.25,0.5\n1,2.001\n1.5,3.06\n2,4\n'


def _upload(api: Any, data: bytes, name: str) -> Any:
    return api.client.post(
        f"/v1/orgs/{api.org}/workflows/{SLUG}/resources",
        data={"file": (io.BytesIO(data), name, "text/csv"), "name": name},
        headers=api.headers(),
        content_type="multipart/form-data",
    )


def _workflow(reference: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "stop_time": 2,
        "step_size": 0.5,
        "parameters": {"rate": 2.0},
        "outputs": ["level"],
    }
    if reference is not None:
        config["reference"] = reference
    return {
        "name": "Tank against a reference",
        "slug": SLUG,
        "execution": "job",
        "steps": [
            {"name": "Simulate", "validator": "fmu", "config": config, "timeout_seconds": 120}
        ],
    }


def _saved(api: Any, reference: dict[str, Any]) -> Any:
    return api.client.put(
        f"/v1/orgs/{api.org}/workflows/{SLUG}", json=_workflow(reference), headers=api.headers()
    )


def _run_the_job(run_id: str, tmp_path: Path) -> None:
    """What the launch, the job and its callback do, in this process."""
    repos, settings, store = wiring.repositories(), get_settings(), wiring.blob_store()
    claim = _claim(
        repos,
        settings,
        LaunchTask(run_id=run_id, step_order=0, attempt=1),
        lambda: datetime.now(UTC),
    )
    assert not isinstance(claim, str), claim
    layout = Layout(settings.storage_uri)
    submission = repos.submissions.find(claim.run.submission_id)
    copy = _copy_into_bundle(store, layout, claim.run, submission)
    assert submission is not None and copy is not None
    resources = _copy_resources(store, layout, claim.run, claim.step)
    envelope = input_envelope(settings, claim.run, claim.step, submission, copy, resources)
    output = produce_output(
        validate,
        envelope,
        lambda: _fetch(envelope, tmp_path),
        ValidatorRef(name="fmu", version="1.0.0"),
        110.0,
    )
    assert _write_output(envelope, output)
    handle_callback(
        repos,
        store,
        wiring.task_queue(),
        settings,
        CallbackBody(
            run_id=run_id,
            callback_id=claim.step.callback_id or "",
            status=output.status,
            result_uri=envelope.output_uri,
        ),
    )


def test_a_workflow_with_a_reference_is_saved_and_run(api: Any, tmp_path: Path) -> None:
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=_workflow(None))
    assert created.status_code == 201, created.get_json()
    for name, data in (("tank-reference.csv", REFERENCE), ("bad.csv", b"level\n0\n")):
        assert _upload(api, data, name).status_code == 201
    refused = _saved(api, {"resource": "bad.csv"})
    assert refused.status_code == 422
    assert (
        "config.reference.resource ('bad.csv'): the reference's header has no 'time'"
        in (refused.get_json()["detail"])
    )
    saved = _saved(api, {"resource": "tank-reference.csv", "rel_tol": 1e-3, "abs_tol": 1e-6})
    assert saved.status_code == 200, saved.get_json()
    assert len(saved.get_json()["steps"][0]["resources"]["tank-reference.csv"]["sha256"]) == 64

    submitted = api.post(
        f"/v1/orgs/{api.org}/workflows/{SLUG}/runs",
        data=TANK.read_bytes(),
        headers={"Content-Type": "application/octet-stream", "X-Filename": "Tank.fmu"},
    )
    assert submitted.status_code in (201, 202), submitted.get_json()
    run_id = submitted.get_json()["run"]["id"]
    _run_the_job(run_id, tmp_path)

    run = api.get(f"/v1/orgs/{api.org}/runs/{run_id}").get_json()
    (step,) = run["steps"]
    assert (run["status"], run["error_category"]) == ("FAILED", "VALIDATION_FAILED"), run
    assert step["metrics"]["level_max_abs_error"] == 0.06000000000000005
    assert step["metrics"]["level_max_rel_error"] == 0.06000000000000005 / 3.06
    folder = Layout(get_settings().storage_uri).attempt_prefix(api.org, run_id, 0, 1)
    table = wiring.blob_store().read_bytes(folder + "reference_comparison.csv").decode()
    assert table.splitlines()[0] == "time,level,level_reference,level_error,level_tolerance"
    assert table.splitlines()[4].startswith("1.5,3.0,3.06,")
    findings = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/findings").get_json()["items"]
    (mismatch,) = [f for f in findings if f["code"] == "reference.mismatch"]
    assert (
        "level: at time 1.5 the simulation gives 3 where the reference gives 3.06"
        in (mismatch["message"])
    )


def test_a_reference_replaced_by_a_malformed_one_is_refused(api: Any) -> None:
    """Replacing a resource the latest version uses saves a version pinned to it, checked
    as any save is."""
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=_workflow(None)).status_code == 201
    assert _upload(api, REFERENCE, "tank-reference.csv").status_code == 201
    assert _saved(api, {"resource": "tank-reference.csv"}).status_code == 200
    replaced = _upload(api, b'"time","level"\n0,0\n2,4\n1,2\n', "tank-reference.csv")
    assert replaced.status_code == 422, replaced.get_json()
    assert "row 3: time 1 comes before the previous row's 2" in replaced.get_json()["detail"]
    latest = api.get(f"/v1/orgs/{api.org}/workflows/{SLUG}").get_json()
    assert latest["version"] == 2  # the version that pins the good reference stays latest
