"""EnergyPlus on the real local stack, through the job runner: a weather file uploaded
as a workflow resource is pinned, copied into the run's bundle and simulated with
(PASS, with metrics and assertions); a simulation longer than the step allows ends the
run TIMED_OUT and leaves no engine running; a model that would run Python fails with the
object named and the engine never started."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, wait_for
from tests.e2e.test_timeouts import processes_gone
from validators.energyplus.engine import bundled_weather

pytestmark = pytest.mark.e2e

BOX = (ROOT / "examples" / "box.idf").read_bytes()
CHICAGO = "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw"


def _workflow(slug: str, config: dict[str, Any], timeout: int = 300) -> dict[str, Any]:
    return {
        "name": slug,
        "slug": slug,
        "steps": [
            {
                "name": "Simulate",
                "validator": "energyplus",
                "config": config,
                "timeout_seconds": timeout,
                "assertions": [
                    {"expr": "metrics.conditioned_area_m2 == 100.0", "message": "100 m²"},
                    {"expr": "metrics.site_eui_kwh_m2 < 1.0", "message": "EUI", "severity": "INFO"},
                ],
            }
        ],
    }


def _submit(stack: Any, org_id: str, headers: dict[str, str], slug: str, data: bytes) -> str:
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/{slug}/runs",
        data=data,
        headers={**headers, "X-Filename": "box.idf", "Content-Type": "text/plain"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run"]["id"])


def test_a_weather_resource_reaches_the_simulation(stack, org):
    org_id, headers = org
    base = f"{stack.api}/v1/orgs/{org_id}/workflows"
    seed = _workflow("box-site", {"weather": CHICAGO})
    assert requests.post(base, json=seed, headers=headers, timeout=30).status_code == 201
    epw = bundled_weather("USA_CO_Golden-NREL.724666_TMY3.epw").read_bytes()
    uploaded = requests.post(
        f"{base}/box-site/resources",
        files={"file": ("site.epw", epw, "text/plain")},
        data={"name": "site.epw"},
        headers=headers,
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    updated = requests.put(
        f"{base}/box-site",
        json=_workflow("box-site", {"weather": "site.epw"}),
        headers=headers,
        timeout=30,
    )
    assert updated.status_code == 200, updated.text
    assert "site.epw" in updated.json()["steps"][0]["resources"]

    run = wait_for(stack, org_id, headers, _submit(stack, org_id, headers, "box-site", BOX), 120)
    assert (run["status"], run["result"]) == ("SUCCEEDED", "PASS"), run
    metrics = run["steps"][0]["metrics"]
    assert metrics["conditioned_area_m2"] == 100.0 and metrics["district_heating_kwh"] > 0
    findings = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run['id']}/findings", headers=headers, timeout=30
    ).json()["items"]
    assert [f["code"] for f in findings if f["path"] == "assertions[1]"] == ["assertion.failed"]
    bundle = Path(stack.env["ASSAY_STORAGE_URI"].removeprefix("file://"))
    copied = bundle / "runs" / org_id / run["id"] / "resources" / "site.epw"
    assert copied.read_bytes() == epw


def test_a_simulation_past_the_step_timeout_ends_timed_out(stack, org):
    org_id, headers = org
    base = f"{stack.api}/v1/orgs/{org_id}/workflows"
    body = _workflow("box-year", {"weather": CHICAGO, "timestep_per_hour": 60}, timeout=6)
    assert requests.post(base, json=body, headers=headers, timeout=30).status_code == 201
    year = BOX.replace(b"RunPeriod,January,1,1,,1,14", b"RunPeriod,Year,1,1,,12,31")
    started = time.monotonic()
    run = wait_for(stack, org_id, headers, _submit(stack, org_id, headers, "box-year", year), 60)
    assert (run["status"], run["result"]) == ("TIMED_OUT", "TIMED_OUT"), run
    assert time.monotonic() - started < 30
    assert "did not finish within" in run["steps"][0]["error"]
    # An engine left running would go on for another ten seconds (a year at one-minute
    # steps takes ~16 s here).
    assert processes_gone(f"{stack.env['ASSAY_STORAGE_URI']}/runs/{org_id}/{run['id']}/")


def test_a_model_that_would_run_python_fails_without_starting_the_engine(stack, org):
    org_id, headers = org
    body = {
        "name": "box-plugin",
        "slug": "box-plugin",
        "steps": [{"name": "Simulate", "validator": "energyplus", "config": {"weather": CHICAGO}}],
    }
    base = f"{stack.api}/v1/orgs/{org_id}/workflows"
    assert requests.post(base, json=body, headers=headers, timeout=30).status_code == 201
    # The engine's parse would report the unknown object, and its simulation the plugin.
    plugin = BOX + b"PythonPlugin:Instance,Spy,No,spy,Spy;\nNoSuchObject,1;\n"
    run = wait_for(
        stack, org_id, headers, _submit(stack, org_id, headers, "box-plugin", plugin), 60
    )
    assert (run["status"], run["result"]) == ("FAILED", "FAIL"), run
    findings = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run['id']}/findings", headers=headers, timeout=30
    ).json()["items"]
    line = BOX.count(b"\n") + 1
    assert [(f["code"], f["line"]) for f in findings] == [("energyplus.forbidden_object", line)]
    assert findings[0]["message"].startswith('PythonPlugin:Instance "Spy" runs Python code')
    assert not run["steps"][0].get("metrics")
    bundle = Path(stack.env["ASSAY_STORAGE_URI"].removeprefix("file://"))
    assert not list((bundle / "runs" / org_id / run["id"]).rglob("eplus*"))
