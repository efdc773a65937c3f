"""EnergyPlus facts and references on the real local stack, through the job runner: a
preflight-only step gives the model's facts in seconds without simulating, and an
assertion on them (`model.zone_count > 5`) fails the run; a step compared with an
earlier run (`reference.run`, pinned at save) passes on the same model and fails on one
with twice the lighting, with a `reference.mismatch` naming the metric, its error
metrics and the comparison CSV in the run's bundle."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, wait_for
from tests.e2e.test_energyplus import CHICAGO, _submit

pytestmark = pytest.mark.e2e

BOX = (ROOT / "examples" / "box.idf").read_bytes()
BRIGHTER = BOX.replace(b"Watts/Area,,10,", b"Watts/Area,,20,")


def _save(stack: Any, org: tuple[str, dict[str, str]], slug: str, step: dict[str, Any]) -> None:
    org_id, headers = org
    body = {"name": slug, "slug": slug, "steps": [{"name": "Simulate", **step}]}
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert answer.status_code == 201, answer.text


def _findings(stack: Any, org: tuple[str, dict[str, str]], run_id: str) -> list[dict[str, Any]]:
    org_id, headers = org
    answer = requests.get(
        f"{stack.api}/v1/orgs/{org_id}/runs/{run_id}/findings", headers=headers, timeout=30
    )
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _run(stack: Any, org: tuple[str, dict[str, str]], slug: str, data: bytes) -> dict[str, Any]:
    org_id, headers = org
    return wait_for(stack, org_id, headers, _submit(stack, org_id, headers, slug, data), 120)


def test_a_preflight_step_asserts_on_the_facts_without_simulating(stack, org):
    assertions = [
        {"expr": "model.zone_count > 5", "message": "at least six zones"},
        {"expr": "model.has_hvac && model.timesteps_per_hour == 4", "message": "HVAC"},
    ]
    step = {
        "validator": "energyplus",
        "config": {"weather": CHICAGO, "preflight_only": True},
        "assertions": assertions,
    }
    _save(stack, org, "box-preflight", step)
    started = time.monotonic()
    run = _run(stack, org, "box-preflight", BOX)
    assert time.monotonic() - started < 60
    assert (run["status"], run["result"]) == ("FAILED", "FAIL"), run
    facts = run["steps"][0]["facts"]
    assert (facts["zone_count"], facts["surface_count"], facts["run_period_days"]) == (1, 6, 14)
    assert facts["object_counts"]["Zone"] == 1
    assert not run["steps"][0].get("metrics")
    failed = [(f["code"], f["path"]) for f in _findings(stack, org, run["id"])]
    assert failed == [("assertion.failed", "assertions[0]")]
    bundle = Path(stack.env["ASSAY_STORAGE_URI"].removeprefix("file://"))
    assert not list((bundle / "runs" / org[0] / run["id"]).rglob("eplus*"))


def test_a_step_compared_with_an_earlier_run(stack, org):
    _save(stack, org, "box-base", {"validator": "energyplus", "config": {"weather": CHICAGO}})
    base = _run(stack, org, "box-base", BOX)
    assert base["result"] == "PASS", base
    lighting = base["steps"][0]["metrics"]["interior_lighting_kwh"]
    reference = {"run": base["id"], "rel_tol": 0.01, "names": ["interior_lighting_kwh"]}
    compare = {"validator": "energyplus", "config": {"weather": CHICAGO, "reference": reference}}
    _save(stack, org, "box-compare", compare)

    same = _run(stack, org, "box-compare", BOX)
    assert same["result"] == "PASS", same
    assert same["steps"][0]["metrics"]["interior_lighting_kwh_ref_abs_error"] == 0.0

    brighter = _run(stack, org, "box-compare", BRIGHTER)
    assert (brighter["status"], brighter["result"]) == ("FAILED", "FAIL"), brighter
    (mismatch,) = [
        f for f in _findings(stack, org, brighter["id"]) if f["code"] != "energyplus.warning"
    ]
    assert (mismatch["code"], mismatch["severity"]) == ("reference.mismatch", "ERROR")
    assert mismatch["message"].startswith("interior_lighting_kwh is ")
    assert f"the reference is {lighting:g}" in mismatch["message"]
    metrics = brighter["steps"][0]["metrics"]
    assert metrics["interior_lighting_kwh_ref_rel_error"] == pytest.approx(1.0, rel=0.01)
    bundle = Path(stack.env["ASSAY_STORAGE_URI"].removeprefix("file://"))
    (table,) = (bundle / "runs" / org[0] / brighter["id"]).rglob("reference_comparison.csv")
    (row,) = csv.DictReader(io.StringIO(table.read_text()))
    assert (row["metric"], row["pass"]) == ("interior_lighting_kwh", "false")
