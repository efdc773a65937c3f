"""Signed webhooks (decision record 0087) on the real API and the real `webhooks`
function, through the Cloud Tasks stand-in (which mints each task's OIDC token with the
metadata stand-in's keys and retries with backoff), to a receiver on 127.0.0.1.

The signature is checked here with hmac and hashlib alone, as a receiver would. DNS is
the one thing given by the test (a resolver), where a name must resolve to a chosen
address: there is no DNS server to point a name at here."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from functions_framework import create_app
from werkzeug.wrappers import Request, Response

from devstack.dispatcher import Dispatcher
from devstack.metadata_server import MetadataServer
from shared import wiring
from shared.domain.webhooks import DeliveryTask, EventType
from shared.platform.clock import utcnow
from shared.platform.config import get_settings
from shared.services import audit, webhooks
from tests.factories import make_org, workflow_body

TASKS = "tasks@assay-test.iam.gserviceaccount.com"
VALID = b'{"name": "Ada", "email": "ada@example.com"}'


@dataclass
class Receiver:
    """A webhook receiver: records each request, answers the statuses it is given in
    turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.got.append((dict(request.headers), request.get_data()))
            status = self.statuses.pop(0) if self.statuses else 200
        answer = Response("thanks" if status < 300 else "receiver says no", status=status)
        return answer(environ, start_response)

    def wait(self, count: int, seconds: float = 20) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.got)} requests, not {count}")


@dataclass
class Harness:
    client: Any
    org: str
    key: str
    receiver: Receiver
    hook_url: str

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return self.client.open(
            f"/v1/orgs/{self.org}{path}", method=method, headers=headers, **kwargs
        )

    def register(self, url: str | None = None) -> dict[str, Any]:
        body = {"url": url or self.hook_url, "events": ["run.completed"]}
        made = self.call("POST", "/webhooks", json=body)
        assert made.status_code == 201, made.get_json()
        return dict(made.get_json())

    def run(self, **workflow: Any) -> dict[str, Any]:
        body = workflow_body(**{"execution": "auto", **workflow})
        assert self.call("POST", "/workflows", json=body).status_code == 201
        ran = self.call(
            "POST",
            "/workflows/people/runs",
            data=VALID,
            headers={"Content-Type": "application/json"},
        )
        assert ran.status_code in (200, 202), ran.get_json()
        return dict(ran.get_json()["run"])


@pytest.fixture
def harness(repos: Any, serve: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    metadata = serve(MetadataServer([TASKS], None, "assay-test"))
    dispatcher = serve(Dispatcher(metadata.url, max_attempts=6, min_backoff=0.05))
    receiver = Receiver()
    hook_url = serve(receiver).url + "/hook"
    values = {
        "ASSAY_CERTS_URL": metadata.url + "/oauth2/v1/certs",
        "ASSAY_TASKS_ENDPOINT": dispatcher.url,
        "ASSAY_TASKS_SERVICE_ACCOUNT": TASKS,
        "ASSAY_LAUNCH_URL": "http://127.0.0.1:9/launch",
        "ASSAY_WEBHOOKS_INVOKERS": TASKS,
        "ASSAY_WEBHOOKS_ALLOW_LOOPBACK": "true",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    function = serve(create_app(target="webhooks", source="functions/main.py"))
    monkeypatch.setenv("ASSAY_WEBHOOKS_URL", function.url)
    wiring.reset()
    org, key = make_org(wiring.repositories())
    client = create_app(target="api", source="functions/main.py").test_client()
    return Harness(client, org, key, receiver, hook_url)


def _verifies(secret: str, headers: dict[str, str], body: bytes) -> int:
    """How many of the signature header's v1 values `secret` made, checked as a
    receiver checks: HMAC-SHA256 of "<t>.<raw body>"."""
    parts = [p.split("=", 1) for p in headers["Assay-Signature"].split(",")]
    (t,) = [v for k, v in parts if k == "t"]
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert abs(int(t) - time.time()) < 300
    return sum(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


def test_a_finished_run_is_posted_signed_with_the_secret_shown_once(harness: Harness) -> None:
    made = harness.register()
    secret = made["secret"]
    assert secret.startswith("whsec_") and made["events"] == ["run.completed"]
    listed = harness.call("GET", "/webhooks").get_json()["items"]
    assert [h["id"] for h in listed] == [made["id"]] and secret not in json.dumps(listed)

    run = harness.run()
    ((headers, body),) = harness.receiver.wait(1)
    event = json.loads(body)
    assert headers["Assay-Event-Id"] == event["id"] and event["type"] == "run.completed"
    assert _verifies(secret, headers, body) == 1
    assert _verifies("whsec_another", headers, body) == 0
    data = event["data"]
    assert (data["run_id"], data["status"], data["result"]) == (run["id"], "SUCCEEDED", "PASS")
    assert (data["workflow_slug"], data["workflow_version"]) == ("people", 1)
    assert data["links"]["run"] == f"/v1/orgs/{harness.org}/runs/{run['id']}"

    answer = harness.call("GET", f"/webhooks/{made['id']}/deliveries")
    (attempt,) = answer.get_json()["items"]
    assert (attempt["event_id"], attempt["status_code"]) == (event["id"], 200)
    assert attempt["delivered"] and attempt["excerpt"] == "thanks"
    assert secret not in answer.get_data(as_text=True)


def test_a_receiver_that_fails_twice_gets_the_same_event_a_third_time(harness: Harness) -> None:
    made = harness.register()
    harness.receiver.statuses.extend([500, 500])
    harness.run()
    got = harness.receiver.wait(3)
    assert len({h["Assay-Event-Id"] for h, _ in got}) == 1
    assert len({body for _, body in got}) == 1
    assert all(_verifies(made["secret"], h, b) == 1 for h, b in got)
    time.sleep(0.3)  # no fourth attempt after the 2xx
    assert len(harness.receiver.got) == 3
    answer = harness.call("GET", f"/webhooks/{made['id']}/deliveries").get_json()["items"]
    assert [(a["attempt"], a["status_code"], a["delivered"]) for a in answer] == [
        (3, 200, True),
        (2, 500, False),
        (1, 500, False),
    ]
    assert answer[-1]["excerpt"] == "receiver says no"


def test_after_a_rotation_old_and_new_secrets_both_sign(harness: Harness) -> None:
    made = harness.register()
    rotated = harness.call("POST", f"/webhooks/{made['id']}/rotate")
    assert rotated.status_code == 200
    new = rotated.get_json()["secret"]
    assert new != made["secret"] and rotated.get_json()["previous_secret_signs_until"]
    harness.run()
    ((headers, body),) = harness.receiver.wait(1)
    assert headers["Assay-Signature"].count("v1=") == 2
    assert _verifies(new, headers, body) == 1 and _verifies(made["secret"], headers, body) == 1

    assert harness.call("DELETE", f"/webhooks/{made['id']}").status_code == 204
    assert harness.call("GET", "/webhooks").get_json()["items"] == []
    entries = audit.entries(wiring.repositories(), harness.org).items
    actions = [e.action.value for e in entries if e.target == f"webhook:{made['id']}"]
    assert sorted(actions) == ["webhook.created", "webhook.deleted", "webhook.rotated"]


def test_a_do_not_store_run_sends_only_ids_status_result_and_counts(harness: Harness) -> None:
    harness.register()
    harness.run(retention={"submission": "DO_NOT_STORE", "output": "STORE_1_DAY"})
    ((_, body),) = harness.receiver.wait(1)
    data = json.loads(body)["data"]
    ids = {"run_id", "org_id", "workflow_id", "submission_id"}
    assert set(data) == ids | {"status", "result", "counts"}
    assert set(data["counts"]) <= {
        "total",
        "error_count",
        "warning_count",
        "info_count",
        "unstored_count",
    }


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/computeMetadata/v1/", "metadata"),
        ("https://metadata.google.internal/", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://100.64.0.1/hook", "CGNAT"),
        ("https://169.254.1.1/hook", "link-local"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
        ("ftp://example.com/hook", "https"),
    ],
)
def test_registration_refuses_unsafe_addresses(harness: Harness, url: str, why: str) -> None:
    answer = harness.call("POST", "/webhooks", json={"url": url, "events": ["run.completed"]})
    assert answer.status_code == 422
    assert answer.content_type == "application/problem+json"
    assert why in answer.get_json()["detail"]
    assert harness.call("GET", "/webhooks").get_json()["items"] == []


def test_a_deployment_refuses_http_and_loopback(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_WEBHOOKS_ALLOW_LOOPBACK")
    get_settings.cache_clear()
    for url, why in ((harness.hook_url, "https"), ("https://127.0.0.1/hook", "loopback")):
        answer = harness.call("POST", "/webhooks", json={"url": url, "events": ["run.completed"]})
        assert answer.status_code == 422 and why in answer.get_json()["detail"]


def test_unknown_events_and_other_roles_are_refused(harness: Harness) -> None:
    body = {"url": harness.hook_url, "events": ["run.exploded"]}
    assert harness.call("POST", "/webhooks", json=body).status_code == 422
    assert harness.call("GET", "/webhooks/AAAAAAAAAAAAAAAAAAAA/deliveries").status_code == 404


# -- the delivery service, with a resolver the test gives ----------------------------


def _resolver(address: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: [address]


def _task(org: str, webhook_id: str, at: Any = None) -> DeliveryTask:
    body = json.dumps({"id": "evt_1", "type": "run.completed", "data": {}})
    return DeliveryTask(
        org_id=org,
        webhook_id=webhook_id,
        event_id="evt_1",
        event_type=EventType.RUN_COMPLETED,
        created_at=at or utcnow(),
        body=body,
    )


def _named_hook(harness: Harness) -> tuple[str, str]:
    """A webhook at a host name that resolves to the receiver's loopback address."""
    port = harness.hook_url.rsplit(":", 1)[1].split("/")[0]
    url = f"http://hooks.example.test:{port}/hook"
    by = audit.By.operator("test")
    hook, _ = webhooks.create(
        wiring.repositories(),
        get_settings(),
        harness.org,
        url,
        ["run.completed"],
        by,
        resolve=_resolver("127.0.0.1"),
    )
    return hook.id, port


def test_the_checked_address_is_the_one_connected_to(harness: Harness) -> None:
    hook_id, port = _named_hook(harness)
    task = _task(harness.org, hook_id)
    outcome = webhooks.deliver(
        wiring.repositories(), get_settings(), task, 0, resolve=_resolver("127.0.0.1")
    )
    assert outcome is webhooks.Outcome.DELIVERED
    ((headers, body),) = harness.receiver.got
    assert headers["Host"] == f"hooks.example.test:{port}" and body == task.body.encode()


def test_a_name_that_now_resolves_to_a_private_address_is_not_called(harness: Harness) -> None:
    hook_id, _ = _named_hook(harness)
    repos, task = wiring.repositories(), _task(harness.org, hook_id)
    outcome = webhooks.deliver(repos, get_settings(), task, 0, resolve=_resolver("10.0.0.7"))
    assert outcome is webhooks.Outcome.FAILED and harness.receiver.got == []
    (attempt,) = webhooks.attempts(repos, harness.org, hook_id)
    assert attempt.status_code is None and "private" in (attempt.error or "")
    with pytest.raises(Exception, match="try again") as raised:
        webhooks.retry_later(outcome)
    assert getattr(raised.value, "headers", {}).get("Retry-After")


def test_concurrent_dispatches_of_one_try_deliver_once(harness: Harness) -> None:
    hook_id, _ = _named_hook(harness)
    repos, settings, task = wiring.repositories(), get_settings(), _task(harness.org, hook_id)
    resolve = _resolver("127.0.0.1")
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(
            pool.map(
                lambda _: webhooks.deliver(repos, settings, task, 0, resolve=resolve), range(4)
            )
        )
    assert sorted(o.value for o in outcomes) == ["delivered"] + ["duplicate"] * 3
    assert len(harness.receiver.got) == 1
    again = webhooks.deliver(repos, settings, task, 1, resolve=resolve)
    assert again is webhooks.Outcome.ALREADY_DELIVERED and len(harness.receiver.got) == 1


def test_no_try_is_made_a_day_after_the_event(harness: Harness) -> None:
    hook_id, _ = _named_hook(harness)
    task = _task(harness.org, hook_id, at=utcnow() - timedelta(hours=24, minutes=1))
    outcome = webhooks.deliver(
        wiring.repositories(), get_settings(), task, 40, resolve=_resolver("127.0.0.1")
    )
    assert outcome is webhooks.Outcome.EXPIRED and harness.receiver.got == []
