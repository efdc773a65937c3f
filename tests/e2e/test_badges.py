"""Status badges on the whole local stack: the URL the api answers is fetched as it is,
without a key; it turns red when the workflow's latest run fails, and 404s once the
badge is turned off."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from shared.domain.badges import GREEN, GREY, RED
from tests.e2e.conftest import wait_for
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e

VALID = b'{"name": "Ada", "email": "ada@example.com"}'
INVALID = b'{"name": 7}'


def _run(stack: Any, org_id: str, headers: dict[str, str], data: bytes) -> str:
    submitted = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/badged/runs",
        data=data,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    return str(wait_for(stack, org_id, headers, submitted.json()["run"]["id"])["result"])


def _shows(url: str) -> str:
    answer = requests.get(url, timeout=10)  # no key
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("image/svg+xml")
    assert answer.headers["Cache-Control"] == "public, max-age=60" and answer.headers["ETag"]
    return answer.text


def test_a_badge_follows_the_latest_run_and_goes_when_turned_off(stack: Any, org: Any) -> None:
    org_id, headers = org
    body = workflow_body("badged", execution="job")  # through the job runner
    created = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    item = f"{stack.api}/v1/orgs/{org_id}/workflows/badged/badge"
    on = requests.put(item, headers=headers, timeout=10)
    assert on.status_code == 201, on.text
    url = on.json()["url"]
    assert url.startswith(stack.api + "/badges/")
    assert GREY in _shows(url) and "no runs" in _shows(url)

    assert _run(stack, org_id, headers, VALID) == "PASS"
    passed = _shows(url)
    assert GREEN in passed and ">pass<" in passed and org_id not in passed
    assert _run(stack, org_id, headers, INVALID) == "FAIL"
    failed = _shows(url)
    assert RED in failed and ">fail<" in failed

    assert requests.delete(item, headers=headers, timeout=10).status_code == 204
    assert requests.get(url, timeout=10).status_code == 404
    again = requests.put(item, headers=headers, timeout=10).json()["url"]
    assert again != url and requests.get(again, timeout=10).status_code == 200
