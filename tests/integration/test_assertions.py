"""Assertions in CEL over a step's metrics: compiled at save (422 naming the step and
the assertion), evaluated by the callback on the output's metrics (a false one is an
`assertion.failed` finding with its severity; a missing metric is a finding, not a
crash), and the metrics kept on the step run."""

from __future__ import annotations

from typing import Any

from tests.factories import workflow_body
from tests.integration.test_cross_step_assertions import report


def _workflow(api: Any, assertions: list[dict[str, Any]]) -> Any:
    body = workflow_body()
    body["steps"][0]["assertions"] = assertions
    return api.post(f"/v1/orgs/{api.org}/workflows", json=body)


def _run_with_metrics(api: Any, metrics: dict[str, Any]) -> Any:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=b'{"name": "Ada"}',
        headers={"Content-Type": "application/json"},
    )
    run_id = answer.get_json()["run"]["id"]
    report(run_id, 0, metrics, {})
    stored = api.get(f"/v1/orgs/{api.org}/runs/{run_id}").get_json()
    findings = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/findings").get_json()["items"]
    return stored, findings


def test_an_assertion_that_does_not_compile_is_a_422_naming_it(api: Any) -> None:
    answer = _workflow(
        api,
        [
            {"expr": "metrics.files == 1", "message": "one file"},
            {"expr": "metrics.files >=", "message": "broken"},
        ],
    )
    assert answer.status_code == 422
    detail = answer.get_json()["detail"]
    assert "steps[0] ('Schema 0').assertions[1]: does not compile" in detail


def test_true_false_and_unknown_metric_assertions(api: Any) -> None:
    created = _workflow(
        api,
        [
            {"expr": "metrics.files == 1", "message": "one file"},
            {"expr": "metrics.eui_kwh_m2 < 250.0", "severity": "ERROR", "message": "EUI too high"},
            {"expr": "metrics.unmet_hours <= 300.0", "severity": "WARNING", "message": "unmet"},
        ],
    )
    assert created.status_code == 201, created.get_json()
    run, findings = _run_with_metrics(api, {"files": 1, "eui_kwh_m2": 312.5})
    assert (run["status"], run["result"]) == ("FAILED", "FAIL")
    assert run["steps"][0]["metrics"] == {"files": 1, "eui_kwh_m2": 312.5}
    by_path = {f["path"]: f for f in findings}
    assert set(by_path) == {"assertions[1]", "assertions[2]"}
    assert (by_path["assertions[1]"]["code"], by_path["assertions[1]"]["severity"]) == (
        "assertion.failed",
        "ERROR",
    )
    assert by_path["assertions[1]"]["message"] == "EUI too high"
    assert by_path["assertions[2]"]["code"] == "assertion.error"
    assert by_path["assertions[2]"]["severity"] == "WARNING"
    assert "unmet_hours" in by_path["assertions[2]"]["message"]


def test_assertions_that_hold_leave_the_run_passing(api: Any) -> None:
    assert (
        _workflow(api, [{"expr": "metrics.files == 1", "message": "one file"}]).status_code == 201
    )
    run, findings = _run_with_metrics(api, {"files": 1})
    assert (run["result"], findings) == ("PASS", [])


def test_the_catalog_lists_each_validator_with_the_schema_that_guards_its_config(api: Any) -> None:
    items = api.get("/v1/validators").get_json()["items"]
    assert [v["name"] for v in items] == ["energyplus", "fmu", "json-schema", "shacl", "xml-schema"]
    xml = items[4]
    assert xml["file_types"] == ["xml"]
    assert xml["config_schema"]["required"] == ["schema_type"]
    body = workflow_body()
    body["steps"][0] = {"name": "X", "validator": "xml-schema", "config": {"schema_type": "xsd"}}
    refused = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert refused.status_code == 422
    assert "is not valid under any of the given schemas" in refused.get_json()["detail"]
    assert api.client.get("/v1/validators").status_code == 401


def test_a_null_metric_is_stored_and_an_assertion_on_it_says_why(api: Any) -> None:
    created = _workflow(
        api,
        [
            {"expr": "metrics.gas_kwh < 5.0", "severity": "WARNING", "message": "gas"},
            {"expr": "metrics.gas_kwh == null || metrics.gas_kwh < 5.0", "message": "allowed"},
        ],
    )
    assert created.status_code == 201, created.get_json()
    run, findings = _run_with_metrics(api, {"files": 1, "gas_kwh": None})
    assert run["steps"][0]["metrics"] == {"files": 1, "gas_kwh": None}
    (finding,) = findings
    assert (finding["path"], finding["code"]) == ("assertions[0]", "assertion.error")
    assert "'gas_kwh' is null" in finding["message"]
    assert run["result"] == "PASS"  # the only finding is a WARNING
