"""Schematron through the real API (functions-framework test client, Firestore
emulator): the BuildingSync example workflow is saved with no upload (its Schematron is
built in), runs on the fast path and stores each phase's findings; an xslt2 schema is
saved on Saxon, which a small file's run on `auto` takes as a job and `inline` refuses;
a hostile xslt2 schema is a 422."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = json.loads((ROOT / "examples" / "buildingsync.workflow.json").read_text())
SAMPLE = (ROOT / "examples" / "buildingsync-l100-audit.xml").read_bytes()
INCOMPLETE = (ROOT / "examples" / "buildingsync-l100-audit-incomplete.xml").read_bytes()
NS = 'xmlns="http://purl.oclc.org/dsdl/schematron"'


def _submit(api: Any, data: bytes, slug: str = "buildingsync") -> dict[str, Any]:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/{slug}/runs",
        data=data,
        headers={"Content-Type": "application/xml", "X-Filename": "audit.xml"},
    )
    assert answer.status_code == 202, answer.get_json()
    run: dict[str, Any] = answer.get_json()["run"]
    return run


def test_the_buildingsync_example_runs_with_its_built_in_schematron(api: Any) -> None:
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=WORKFLOW)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["steps"][0]["resources"] == {}

    passed = _submit(api, SAMPLE)
    assert (passed["status"], passed["result"]) == ("SUCCEEDED", "PASS")
    assert [s["execution"] for s in passed["steps"]] == ["inline", "inline"]

    failed = _submit(api, INCOMPLETE)
    assert (failed["status"], failed["result"]) == ("FAILED", "FAIL")
    items = api.get(f"/v1/orgs/{api.org}/runs/{failed['id']}/findings").get_json()["items"]
    # The first phase fails the run: the second is skipped.
    assert {(f["severity"], f["code"], f["rule"], f["message"], f["line"]) for f in items} == {
        ("ERROR", "schematron.assert", "misc_building_info", "auc:YearOfConstruction", 13),
        ("WARNING", "schematron.assert", "misc_building_info", "auc:YearOfLastMajorRemodel", 13),
    }


def test_an_xslt2_schema_runs_as_a_job_and_a_hostile_one_is_refused(api: Any) -> None:
    schema = f"""<schema {NS} queryBinding="xslt2"><pattern><rule context="*">
      <assert test="matches(name(), '^[a-z]+$')">lower-case names</assert></rule></pattern>
    </schema>"""
    body = {
        "name": "Names",
        "slug": "names",
        "execution": "inline",
        "steps": [
            {
                "name": "Names",
                "validator": "xml-schema",
                "config": {"schema_type": "schematron", "schema": schema},
            }
        ],
    }
    inline = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert inline.status_code == 422
    assert "['xml-schema (saxon)'] run only as jobs" in inline.get_json()["detail"]

    body["execution"] = "auto"
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["steps"][0]["engine"] == "saxon"
    small = _submit(api, b"<a/>", slug="names")
    assert [s["execution"] for s in small["steps"]] == ["job"]
    assert [t.url.rsplit("/", 1)[-1] for t in api.tasks()] == ["launch"]

    hostile = schema.replace("name(), '^[a-z]+$')", "unparsed-text('/etc/hostname'), 'x')")
    body["steps"][0]["config"]["schema"] = hostile
    refused = api.client.put(
        f"/v1/orgs/{api.org}/workflows/names", json=body, headers=api.headers()
    )
    assert refused.status_code == 422
    assert "calls unparsed-text()" in json.dumps(refused.get_json())
