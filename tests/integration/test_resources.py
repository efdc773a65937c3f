"""Workflow resources: uploaded once (multipart), named from a step's config, pinned by
checksum in the version; replacing one the latest version uses saves a new version,
older runs keep their content; the launch copies the pinned resource into the run's
bundle, where the job reads it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from shared import wiring
from shared.platform.config import get_settings

ROOT = Path(__file__).resolve().parents[2]
XSD = (ROOT / "examples" / "order.xsd").read_bytes()
STRICTER = XSD.replace(b'maxOccurs="unbounded"', b'maxOccurs="1"')


def _upload(api: Any, data: bytes, name: str = "order.xsd") -> Any:
    return api.client.post(
        f"/v1/orgs/{api.org}/workflows/orders/resources",
        data={"file": (io.BytesIO(data), name, "application/xml"), "name": name},
        headers=api.headers(),
        content_type="multipart/form-data",
    )


def _workflow(schema_resource: str = "order.xsd") -> dict[str, Any]:
    return {
        "name": "Orders",
        "slug": "orders",
        "execution": "job",  # the launch copies resources into the bundle
        "steps": [
            {
                "name": "Order schema",
                "validator": "xml-schema",
                "config": {"schema_type": "xsd", "schema_resource": schema_resource},
            }
        ],
    }


def test_a_resource_is_named_pinned_and_copied_into_the_bundle(api: Any) -> None:
    seed = _workflow()
    seed["steps"][0]["config"] = {"schema_type": "xsd", "schema": XSD.decode()}
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=seed).status_code == 201
    uploaded = _upload(api, XSD)
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["new_version"] is None  # v1 does not use it yet
    updated = api.client.put(
        f"/v1/orgs/{api.org}/workflows/orders", json=_workflow(), headers=api.headers()
    )
    assert updated.status_code == 200, updated.get_json()
    pin = updated.get_json()["steps"][0]["resources"]["order.xsd"]
    assert "uri" not in pin and len(pin["sha256"]) == 64

    submitted = api.post(
        f"/v1/orgs/{api.org}/workflows/orders/runs",
        data=(ROOT / "examples" / "valid-order.xml").read_bytes(),
        headers={"Content-Type": "application/xml", "X-Filename": "o.xml"},
    ).get_json()
    repos = wiring.repositories()
    run = repos.runs.get(api.org, submitted["run"]["id"])
    from shared.adapters.storage.layout import Layout
    from shared.domain.task_bodies import LaunchTask
    from shared.services.launches import _claim, _copy_resources

    claim = _claim(
        repos,
        get_settings(),
        LaunchTask(run_id=run.id, step_order=0, attempt=1),
        lambda: run.created_at,
    )
    (copied,) = _copy_resources(
        wiring.blob_store(), Layout(get_settings().storage_uri), claim.run, claim.step
    )
    assert "/runs/" in copied.uri and copied.sha256 == pin["sha256"]
    assert wiring.blob_store().read_bytes(copied.uri) == XSD

    # Replacing it saves v3 pinned to the new content; v2 keeps the old pin.
    replaced = _upload(api, STRICTER)
    assert replaced.get_json()["new_version"] == 3
    v2 = api.get(f"/v1/orgs/{api.org}/workflows/orders?version=2").get_json()
    v3 = api.get(f"/v1/orgs/{api.org}/workflows/orders").get_json()
    assert v2["steps"][0]["resources"]["order.xsd"]["sha256"] == pin["sha256"]
    assert v3["steps"][0]["resources"]["order.xsd"]["sha256"] != pin["sha256"]
    listed = api.get(f"/v1/orgs/{api.org}/workflows/orders/resources").get_json()["items"]
    assert [r["name"] for r in listed] == ["order.xsd"] and "uri" not in listed[0]


def test_a_missing_resource_or_a_bad_one_is_a_422(api: Any) -> None:
    answer = api.post(f"/v1/orgs/{api.org}/workflows", json=_workflow("nope.xsd"))
    assert answer.status_code == 422
    assert (
        "config.schema_resource" in answer.get_json()["detail"]
        and "nope.xsd" in answer.get_json()["detail"]
    )
    both = _workflow()
    both["steps"][0]["config"]["schema"] = "<x/>"
    assert api.post(f"/v1/orgs/{api.org}/workflows", json=both).status_code == 422


def test_delete_and_names(api: Any) -> None:
    seed = _workflow()
    seed["steps"][0]["config"] = {"schema_type": "xsd", "schema": XSD.decode()}
    api.post(f"/v1/orgs/{api.org}/workflows", json=seed)
    assert _upload(api, XSD, "bad name!").status_code == 422
    assert _upload(api, XSD).status_code == 201
    path = f"/v1/orgs/{api.org}/workflows/orders/resources/order.xsd"
    assert api.client.delete(path, headers=api.headers()).status_code == 204
    assert api.client.delete(path, headers=api.headers()).status_code == 404
    assert api.get(f"/v1/orgs/{api.org}/workflows/orders/resources").get_json()["items"] == []


def _box(weather: str) -> dict[str, Any]:
    return {
        "name": "Box",
        "slug": "box",
        "steps": [{"name": "Simulate", "validator": "energyplus", "config": {"weather": weather}}],
    }


def test_weather_is_a_bundled_file_or_a_resource(api: Any) -> None:
    chicago = "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw"
    bundled = api.post(f"/v1/orgs/{api.org}/workflows", json=_box(chicago))
    assert bundled.status_code == 201, bundled.get_json()
    assert bundled.get_json()["steps"][0]["resources"] == {}

    missing = api.client.put(
        f"/v1/orgs/{api.org}/workflows/box", json=_box("site.epw"), headers=api.headers()
    )
    assert missing.status_code == 422
    detail = missing.get_json()["detail"]
    assert "config.weather" in detail and "'site.epw' is neither a resource" in detail
    assert chicago in detail  # the bundled names are listed

    for name in ("site.epw", chicago):  # a resource named like a bundled file wins
        uploaded = api.client.post(
            f"/v1/orgs/{api.org}/workflows/box/resources",
            data={"file": (io.BytesIO(b"LOCATION,Site\n"), name, "text/plain"), "name": name},
            headers=api.headers(),
            content_type="multipart/form-data",
        )
        assert uploaded.status_code == 201, uploaded.get_json()
        saved = api.client.put(
            f"/v1/orgs/{api.org}/workflows/box", json=_box(name), headers=api.headers()
        )
        assert saved.status_code == 200, saved.get_json()
        assert list(saved.get_json()["steps"][0]["resources"]) == [name]
