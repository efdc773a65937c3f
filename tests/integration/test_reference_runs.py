"""An EnergyPlus step's reference run (`reference: {"run": RUN_ID}`): pinned when the
workflow is saved, the finished run's metrics written into the step's config for the
job to compare against; another org's run, an unfinished one, or a metric it lacks is a
422 naming the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared import wiring
from tests.factories import make_org
from tests.integration.test_cross_step_assertions import report

ROOT = Path(__file__).resolve().parents[2]
BOX = (ROOT / "examples" / "box.idf").read_bytes()


def _energyplus(slug: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": slug,
        "slug": slug,
        "steps": [{"name": "Simulate", "validator": "energyplus", "config": config}],
        "execution": "job",
    }


def _base_run(api: Any, finish: bool = True, org: str = "", key: str = "") -> str:
    org, auth = org or api.org, {"Authorization": f"Bearer {key}"} if key else {}
    body = _energyplus("base", {})
    assert api.post(f"/v1/orgs/{org}/workflows", json=body, headers=auth).status_code == 201
    answer = api.post(
        f"/v1/orgs/{org}/workflows/base/runs",
        data=BOX,
        headers={"Content-Type": "text/plain", "X-Filename": "box.idf", **auth},
    )
    assert answer.status_code == 202, answer.get_json()
    run_id: str = answer.get_json()["run"]["id"]
    if finish:
        report(run_id, 0, {"site_eui_kwh_m2": 120.5, "heating_kwh": 300, "label": "x"}, {})
    return run_id


def _save_compare(api: Any, reference: dict[str, Any]) -> Any:
    body = _energyplus("compare", {"reference": reference})
    return api.post(f"/v1/orgs/{api.org}/workflows", json=body)


def test_a_reference_run_s_metrics_are_pinned_into_the_step_at_save(api: Any) -> None:
    run_id = _base_run(api)

    saved = _save_compare(api, {"run": run_id, "rel_tol": 0.05})

    assert saved.status_code == 201, saved.get_json()
    reference = saved.get_json()["steps"][0]["config"]["reference"]
    assert reference["metrics"] == {
        "site_eui_kwh_m2": {"value": 120.5, "rel_tol": 0.05},
        "heating_kwh": {"value": 300.0, "rel_tol": 0.05},
    }


def test_names_choose_the_metrics_and_one_the_run_lacks_is_a_422(api: Any) -> None:
    run_id = _base_run(api)

    chosen = _save_compare(api, {"run": run_id, "names": ["heating_kwh"]})
    assert chosen.status_code == 201, chosen.get_json()
    assert list(chosen.get_json()["steps"][0]["config"]["reference"]["metrics"]) == ["heating_kwh"]

    lacking = api.client.put(
        f"/v1/orgs/{api.org}/workflows/compare",
        json=_energyplus("compare", {"reference": {"run": run_id, "names": ["water_m3"]}}),
        headers=api.headers(),
    )
    assert lacking.status_code == 422
    assert "no numeric metric 'water_m3'" in lacking.get_json()["detail"]


def test_an_unfinished_or_another_org_s_run_is_a_422(api: Any) -> None:
    unfinished = _base_run(api, finish=False)
    answer = _save_compare(api, {"run": unfinished})
    assert answer.status_code == 422
    assert "has not finished" in answer.get_json()["detail"]

    other_org, other_key = make_org(wiring.repositories(), "other")
    theirs = _base_run(api, org=other_org, key=other_key)
    answer = _save_compare(api, {"run": theirs})
    assert answer.status_code == 422
    detail = answer.get_json()["detail"]
    assert "steps[0] ('Simulate'): config.reference.run" in detail
    assert "is not a run of this org" in detail
    assert "has not finished" not in detail
