"""The shacl validator through the real API (functions-framework test client, the
Firestore emulator, the Cloud Tasks stand-in): the Brick example runs inline and passes
or fails with a finding of each severity; shapes and an ontology read from workflow
resources make an RTU an AHU under RDFS inference; shapes that are not valid SHACL are a
422 when the workflow is saved, inline or as a resource; DO_NOT_STORE quotes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WORKFLOW = json.loads((EXAMPLES / "brick.workflow.json").read_text())
SHAPES = (EXAMPLES / "brick-shapes.ttl").read_bytes()
MODEL = (EXAMPLES / "brick-model.ttl").read_bytes()
INVALID = (EXAMPLES / "brick-model-invalid.ttl").read_bytes()
ONTOLOGY = (EXAMPLES / "brick-ontology-excerpt.ttl").read_bytes()
BAD_SHAPES = b"""@prefix sh: <http://www.w3.org/ns/shacl#> .
<urn:s> a sh:NodeShape ; sh:targetClass <urn:c> ; sh:property [ sh:minCount "one" ] ."""


def _create(api: Any, **extra: Any) -> Any:
    return api.post(f"/v1/orgs/{api.org}/workflows", json={**WORKFLOW, **extra})


def _submit(api: Any, data: bytes, name: str = "model.ttl", kind: str = "text/turtle") -> Any:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/brick/runs",
        data=data,
        headers={"Content-Type": kind, "X-Filename": name, "Prefer": "wait=20"},
    )
    assert answer.status_code in (200, 202), answer.get_json()
    return answer.get_json()["run"]


def _findings(api: Any, run_id: str) -> list[dict[str, Any]]:
    page = api.get(f"/v1/orgs/{api.org}/runs/{run_id}/findings").get_json()
    items: list[dict[str, Any]] = page["items"]
    return items


def _upload(api: Any, name: str, data: bytes) -> None:
    uploaded = api.client.post(
        f"/v1/orgs/{api.org}/workflows/brick/resources",
        data={"file": (io.BytesIO(data), name, "text/turtle"), "name": name},
        headers=api.headers(),
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.get_json()


def _put(api: Any, config: dict[str, Any]) -> Any:
    step = {**WORKFLOW["steps"][0], "config": config}
    body = {**WORKFLOW, "execution": "auto", "steps": [step]}
    return api.client.put(f"/v1/orgs/{api.org}/workflows/brick", json=body, headers=api.headers())


def test_the_brick_example_runs_inline_and_passes_or_fails(api: Any) -> None:
    created = _create(api, execution="auto")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["allowed_file_types"] == ["json", "ntriples", "turtle", "xml"]

    passed = _submit(api, MODEL)
    assert (passed["result"], passed["steps"][0]["execution"]) == ("PASS", "inline")

    failed = _submit(api, INVALID)
    assert (failed["result"], failed["steps"][0]["execution"]) == ("FAIL", "inline")
    found = {(f["severity"], f["code"], f["path"]) for f in _findings(api, failed["id"])}
    assert found == {
        ("ERROR", "shacl.violation", "bldg:AHU1 brick:hasPoint"),
        ("ERROR", "shacl.violation", "bldg:VAV2 brick:isFedBy"),
        ("WARNING", "shacl.warning", "bldg:VAV1_ZAT ref:hasExternalReference"),
        ("INFO", "shacl.info", "bldg:VAV2 rdfs:label"),
    }
    assert api.tasks() == []  # no job was launched for either


def test_a_json_ld_file_is_read_and_a_csv_refused_at_intake(api: Any) -> None:
    assert _create(api, execution="auto").status_code == 201
    document = {
        "@context": {"brick": "https://brickschema.org/schema/Brick#"},
        "@id": "urn:example:building#VAV9",
        "@type": "brick:VAV",
    }
    run = _submit(api, json.dumps(document).encode(), "m.jsonld", "application/ld+json")
    codes = {f["code"] for f in _findings(api, run["id"])}
    assert codes == {"shacl.violation", "shacl.info"}
    refused = api.post(
        f"/v1/orgs/{api.org}/workflows/brick/runs",
        data=b"a,b\n",
        headers={"Content-Type": "text/plain", "X-Filename": "m.txt"},
    )
    assert refused.status_code == 415
    assert "accepts ['json', 'ntriples', 'turtle', 'xml']" in refused.get_json()["detail"]


def test_shapes_and_an_ontology_from_resources_with_rdfs_inference(api: Any) -> None:
    assert _create(api, execution="auto").status_code == 201
    _upload(api, "brick-shapes.ttl", SHAPES)
    _upload(api, "brick.ttl", ONTOLOGY)
    config = {
        "shapes_resource": "brick-shapes.ttl",
        "ontologies": ["brick.ttl"],
        "inference": "rdfs",
    }
    saved = _put(api, config)
    assert saved.status_code == 200, saved.get_json()
    assert set(saved.get_json()["steps"][0]["resources"]) == {"brick-shapes.ttl", "brick.ttl"}
    # An RTU with no supply air sensor: an AHU only by the ontology.
    rtu = INVALID.replace(b"bldg:AHU1 a brick:AHU", b"bldg:AHU1 a brick:RTU")
    run = _submit(api, rtu)
    assert run["steps"][0]["execution"] == "inline"
    paths = {f["path"] for f in _findings(api, run["id"])}
    assert "bldg:AHU1 brick:hasPoint" in paths


def test_shapes_that_are_not_shacl_are_refused_at_save(api: Any) -> None:
    inline = _create(api, steps=[{**WORKFLOW["steps"][0], "config": {"shapes": "nonsense ;"}}])
    assert inline.status_code == 422
    assert "not valid Turtle" in json.dumps(inline.get_json())
    bad = _create(api, steps=[{**WORKFLOW["steps"][0], "config": {"shapes": BAD_SHAPES.decode()}}])
    assert bad.status_code == 422 and "not valid SHACL" in json.dumps(bad.get_json())

    assert _create(api).status_code == 201
    _upload(api, "bad-shapes.ttl", BAD_SHAPES)
    refused = _put(api, {"shapes_resource": "bad-shapes.ttl"})
    assert refused.status_code == 422 and "not valid SHACL" in json.dumps(refused.get_json())


def test_do_not_store_findings_quote_nothing_of_the_model(api: Any) -> None:
    retention = {"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"}
    assert _create(api, execution="auto", retention=retention).status_code == 201
    secret = INVALID.replace(b"bldg:VAV2", b"bldg:Secret_Room_42")
    run = _submit(api, secret)
    assert run["result"] == "FAIL"
    findings = _findings(api, run["id"])
    assert len(findings) == 4 and "Secret_Room_42" not in json.dumps(findings)
