"""Assertions across steps and on model facts: a step's assertions read `model.*` (the
facts its validator read of the input) and `steps.<key>.metrics|result|model` of the
run's earlier steps; naming a later or unknown step is a 422 when the workflow is saved.
The facts are kept with the step run."""

from __future__ import annotations

from typing import Any

import pytest

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.contract.envelopes import (
    CallbackBody,
    OutputEnvelope,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.platform.config import get_settings
from tests.factories import workflow_body
from tests.integration.test_flows import NOW, callback, claimed


def _save(api: Any, *assertions: list[dict[str, Any]], slug: str = "people") -> Any:
    body = workflow_body(slug=slug, steps=len(assertions))
    body["steps"][0]["name"] = "Base line"
    for step, listed in zip(body["steps"], assertions, strict=True):
        step["assertions"] = listed
    return api.post(f"/v1/orgs/{api.org}/workflows", json=body)


def report(run_id: str, order: int, metrics: dict[str, Any], facts: dict[str, Any]) -> None:
    """The step `order` reports `metrics` and `facts`, as its job would."""
    repos = wiring.repositories()
    run = repos.runs.find(run_id)
    assert run is not None
    step = claimed(repos, run, order)
    uri = Layout(get_settings().storage_uri).output_envelope(
        run.org_id, run.id, order, step.attempt
    )
    output = OutputEnvelope(
        run_id=run.id,
        org_id=run.org_id,
        step_order=order,
        attempt=step.attempt,
        callback_id=step.callback_id,
        status=OutputStatus.SUCCESS,
        metrics=metrics,
        facts=facts,
        timing=Timing(started_at=NOW, ended_at=NOW, duration_ms=1),
        validator=ValidatorRef(name="json-schema", version="1"),
    )
    wiring.blob_store().write_bytes(uri, output.model_dump_json().encode())
    callback(
        CallbackBody(run_id=run.id, callback_id=step.callback_id, status="success", result_uri=uri)
    )


def _two_step_run(api: Any, base: dict[str, Any], second: dict[str, Any]) -> tuple[Any, Any]:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": "Ada"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.get_json()
    run_id = answer.get_json()["run"]["id"]
    report(run_id, 0, base, {"zone_count": 2, "object_counts": {"Zone": 2}})
    report(run_id, 1, second, {"zone_count": 7, "has_hvac": True})
    run = api.get(f"/v1/orgs/{api.org}/runs/{run_id}").get_json()
    findings = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/findings").get_json()["items"]
    return run, findings


CROSS_STEP = [
    {
        "expr": "metrics.eui <= steps.base_line.metrics.eui * 1.1",
        "message": "EUI more than 10 % above the base line's",
    },
    {"expr": 'steps["base-line"].result == "PASSED"', "message": "base line passed"},
    {"expr": "steps.base_line.model.zone_count < model.zone_count", "message": "more zones"},
    {"expr": "model.has_hvac", "severity": "WARNING", "message": "no HVAC"},
]


def test_a_later_step_asserts_on_an_earlier_steps_metrics_result_and_model(api: Any) -> None:
    assert (
        _save(api, [{"expr": "model.zone_count > 1", "message": "zones"}], CROSS_STEP).status_code
        == 201
    )

    run, findings = _two_step_run(api, {"eui": 100.0}, {"eui": 109.0})

    assert (run["status"], run["result"]) == ("SUCCEEDED", "PASS"), findings
    assert findings == []
    assert run["steps"][0]["facts"] == {"zone_count": 2, "object_counts": {"Zone": 2}}
    assert run["steps"][1]["facts"]["has_hvac"] is True


def test_a_later_step_fails_when_it_drifts_from_the_earlier_one(api: Any) -> None:
    assert _save(api, [], CROSS_STEP).status_code == 201

    run, findings = _two_step_run(api, {"eui": 100.0}, {"eui": 111.0})

    assert run["result"] == "FAIL"
    assert [(f["code"], f["message"], f["step_key"]) for f in findings] == [
        ("assertion.failed", "EUI more than 10 % above the base line's", "schema-1")
    ]


def test_a_model_fact_the_validator_did_not_read_is_a_finding_not_a_crash(api: Any) -> None:
    assert _save(api, [{"expr": "model.window_count > 0", "message": "windows"}]).status_code == 201
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": "Ada"}',
        headers={"Content-Type": "application/json"},
    )
    run_id = answer.get_json()["run"]["id"]
    report(run_id, 0, {}, {"zone_count": 1})
    findings = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/findings").get_json()["items"]
    assert [f["code"] for f in findings] == ["assertion.error"]
    assert "window_count" in findings[0]["message"]


@pytest.mark.parametrize(
    ("assertions", "named"),
    [
        # The first step has no earlier step to read.
        ([[{"expr": "steps.base_line.metrics.x > 0", "message": "m"}], []], "steps.base_line"),
        # A step cannot read one that runs after it.
        ([[{"expr": "steps.schema_1.result == 'PASSED'", "message": "m"}], []], "steps.schema_1"),
        ([[], [{"expr": "steps.nowhere.metrics.x > 0", "message": "m"}]], "steps.nowhere"),
        ([[], [{"expr": 'steps["schema-1"].metrics.x > 0', "message": "m"}]], "steps.schema-1"),
    ],
)
def test_an_assertion_on_a_step_that_is_not_earlier_is_a_422_at_save(
    api: Any, assertions: list[list[dict[str, Any]]], named: str
) -> None:
    answer = _save(api, *assertions)

    assert answer.status_code == 422, answer.get_json()
    assert answer.content_type == "application/problem+json"
    detail = answer.get_json()["detail"]
    assert f"{named} is not an earlier step of this workflow" in detail


def test_the_fast_path_gives_a_step_its_earlier_steps_too(api: Any) -> None:
    body = workflow_body(steps=2, execution="inline")
    body["steps"][1]["assertions"] = [
        {"expr": 'steps.schema_0.result == "PASSED"', "message": "schema 0 passed"},
        {"expr": 'steps.schema_0.result == "FAILED"', "message": "schema 0 failed"},
    ]
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=body).status_code == 201

    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": "Ada"}',
        headers={"Content-Type": "application/json"},
    )

    run = answer.get_json()["run"]
    assert [s["execution"] for s in run["steps"]] == ["inline", "inline"]
    findings = api.get(f"/v1/orgs/{api.org}/runs/{run['id']}/findings").get_json()["items"]
    assert [(f["step_key"], f["message"]) for f in findings] == [("schema-1", "schema 0 failed")]
