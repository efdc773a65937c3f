"""Webhooks on the real local stack (`make up`): a run that ends through the job path
reaches a receiver on 127.0.0.1, through the dispatcher stand-in's webhooks queue and
the stack's own webhooks function, signed with the secret registration showed; a
receiver that fails first is tried again with the same event (decision record 0087)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests

from tests.e2e.conftest import wait_for
from tests.factories import workflow_body
from tests.integration.test_webhooks import Receiver

pytestmark = pytest.mark.e2e

VALID = b'{"name": "Ada", "email": "ada@example.com", "age": 36}'


def _signed_by(secret: str, header: str, body: bytes) -> bool:
    parts = [p.split("=", 1) for p in header.split(",")]
    t = next(v for k, v in parts if k == "t")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


def test_a_job_run_reaches_a_receiver_signed_after_a_failure(stack, org, serve):
    org_id, headers = org
    receiver = Receiver(statuses=[503])
    url = serve(receiver).url + "/hook"
    base = f"{stack.api}/v1/orgs/{org_id}"
    body = workflow_body("hooked")
    assert requests.post(f"{base}/workflows", json=body, headers=headers, timeout=30).ok
    made = requests.post(
        f"{base}/webhooks",
        json={"url": url, "events": ["run.completed"]},
        headers=headers,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    hook = made.json()

    submitted = requests.post(
        f"{base}/workflows/hooked/runs",
        data=VALID,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    run = wait_for(stack, org_id, headers, submitted.json()["run"]["id"])
    got = receiver.wait(2, seconds=60)
    assert len({h["Assay-Event-Id"] for h, _ in got}) == 1 and got[0][1] == got[1][1]
    event = json.loads(got[1][1])
    assert (event["type"], event["data"]["run_id"]) == ("run.completed", run["id"])
    assert event["data"]["result"] == "PASS"
    assert all(_signed_by(hook["secret"], h["Assay-Signature"], b) for h, b in got)
    attempts = requests.get(
        f"{base}/webhooks/{hook['id']}/deliveries", headers=headers, timeout=10
    ).json()["items"]
    assert [a["status_code"] for a in attempts] == [200, 503]
