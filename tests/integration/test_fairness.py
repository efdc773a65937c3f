"""One org cannot starve another (issue 20, decision record 0029), on the real API
(functions-framework test client, Firestore emulator, the Cloud Tasks stand-in, the fast
path's sandboxed fork server), requests sent from threads as a gen2 instance serves them:

- org A at its runs in flight gets 429 with Retry-After while org B's submissions go in;
- org A at its inline checks takes the job path while org B's run inline;
- org A at its held waits is answered at once while org B's wait is applied;
- requests without a valid key are limited per client address, the address Google's
  front end appended to X-Forwarded-For, whatever a client writes before it;
- concurrent requests of two orgs each get their own, correct answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared import wiring
from tests.factories import make_org, workflow_body

VALID = b'{"name": "Ada", "email": "ada@example.com"}'
INVALID = b'{"name": 7}'
CATASTROPHIC = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
TRAPPED = b'{"name": "' + b"a" * 48 + b'!"}'
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Org:
    id: str
    key: str
    client: Any

    def post(self, path: str, data: bytes = VALID, **headers: str) -> Any:
        return self.client.post(
            f"/v1/orgs/{self.id}{path}",
            data=data,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
            | headers,
        )

    def get(self, path: str) -> Any:
        return self.client.get(
            f"/v1/orgs/{self.id}{path}", headers={"Authorization": f"Bearer {self.key}"}
        )

    def workflow(self, slug: str, **extra: Any) -> None:
        body = workflow_body(slug=slug) | extra
        created = self.client.post(
            f"/v1/orgs/{self.id}/workflows",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert created.status_code == 201, created.get_json()

    def submit(self, slug: str, data: bytes = VALID, **headers: str) -> Any:
        return self.post(f"/workflows/{slug}/runs", data, **headers)


@pytest.fixture
def orgs(api: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[Org, Org]]:
    """Orgs A and B on one api instance, under the limits given (as settings)."""

    def make(**limits: int) -> tuple[Org, Org]:
        for name, value in limits.items():
            monkeypatch.setenv(f"ASSAY_{name.upper()}", str(value))
        wiring.reset()  # the settings, and an admission that reads them
        b_id, b_key = make_org(api.repos, "b")
        return Org(api.org, api.key, api.client), Org(b_id, b_key, api.client)

    return make


def _until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


@pytest.mark.firestore
def test_an_org_at_its_runs_in_flight_gets_429_while_another_submits(orgs: Any) -> None:
    a, b = orgs(org_runs_in_flight=3)
    for org in (a, b):
        org.workflow("people")  # the job path; no launch runs here, so runs stay PENDING
    assert [a.submit("people").status_code for _ in range(3)] == [202] * 3
    refused = a.submit("people")
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"
    assert refused.headers["Retry-After"] == "5"
    assert "3 runs in flight" in refused.get_json()["detail"]
    submission = a.get("/runs").get_json()["items"][0]["submission_id"]
    assert a.post(f"/submissions/{submission}/runs", b"{}").status_code == 429  # a re-run too
    assert len(a.get("/runs").get_json()["items"]) == 3  # nothing was made of either
    assert [b.submit("people").status_code for _ in range(3)] == [202] * 3
    runs = wiring.repositories().db.collection("runs")
    ids = [r["id"] for r in a.get("/runs").get_json()["items"]]
    runs.document(ids[0]).update({"status": "RUNNING"})  # a job holds it: still in flight
    assert a.submit("people").status_code == 429
    runs.document(ids[1]).update({"status": "SUCCEEDED"})  # one ended: room for one more
    assert [a.submit("people").status_code for _ in range(2)] == [202, 429]


def test_concurrent_submissions_of_one_org_cannot_all_pass_the_count_together(
    orgs: Any,
) -> None:
    """The count and the commit are not one transaction: without counting the runs its
    own instance is admitting meanwhile, twelve at once would all see room for three."""
    a, _ = orgs(org_runs_in_flight=3)
    a.workflow("people")
    start = threading.Barrier(12)

    def attempt(_: int) -> int:
        start.wait()
        status: int = a.submit("people").status_code
        return status

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(attempt, range(12)))
    accepted = statuses.count(202)
    assert 1 <= accepted <= 3 and statuses.count(429) == 12 - accepted
    assert len(a.get("/runs").get_json()["items"]) == accepted


@pytest.mark.firestore
def test_the_in_flight_count_is_served_by_a_declared_index(
    orgs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

    from tests.firestore_indexes import Declared, Shape, uncovered

    shapes: list[Shape] = []
    real = FirestoreClient.run_aggregation_query

    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        request = kwargs["request"] if "request" in kwargs else args[0]
        shapes.append(Shape.of(request["structured_aggregation_query"].structured_query))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(FirestoreClient, "run_aggregation_query", record)
    a, _ = orgs()
    assert wiring.repositories().runs.in_flight(a.id, 5) == 0
    declared = Declared.load(ROOT / "infra" / "firestore.indexes.json")
    assert shapes and [uncovered(s, declared) for s in shapes] == [None]


def test_an_org_at_its_inline_checks_takes_the_job_path_while_another_runs_inline(
    orgs: Any,
) -> None:
    a, b = orgs(org_inline_checks=1)
    trap = {"name": "Trap", "validator": "json-schema", "config": {"schema": CATASTROPHIC}}
    a.workflow("trap", execution="inline", steps=[trap | {"timeout_seconds": 3}])
    for org in (a, b):
        org.workflow("people", execution="auto")
    b.submit("people", Prefer="wait=10")  # the fork server is up before the race
    admission = wiring.admission()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(a.submit, "trap", TRAPPED, Prefer="wait=20")
        _until(lambda: admission.in_flight(a.id)[0] == 1)  # A's one check is running
        diverted = a.submit("people", Prefer="wait=1")
        inline = b.submit("people", Prefer="wait=10")
        assert admission.in_flight(a.id)[0] == 1  # still running all along
        trapped = slow.result()
    run = diverted.get_json()["run"]
    assert (diverted.status_code, run["status"], run["steps"][0]["execution"]) == (
        202,
        "PENDING",
        "job",
    )
    run = inline.get_json()["run"]
    assert (inline.status_code, run["result"], run["steps"][0]["execution"]) == (
        200,
        "PASS",
        "inline",
    )
    assert trapped.get_json()["run"]["status"] == "TIMED_OUT"
    assert admission.in_flight(a.id) == (0, 0)
    again = a.submit("people", Prefer="wait=10").get_json()["run"]
    assert again["steps"][0]["execution"] == "inline"  # the slot came back


def test_an_org_at_its_waits_is_answered_at_once_while_another_waits(orgs: Any) -> None:
    a, b = orgs(org_waits=1)
    for org in (a, b):
        org.workflow("people")  # the job path: no job runs here, so a wait lasts its length
    admission = wiring.admission()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(a.submit, "people", Prefer="wait=3")
        _until(lambda: admission.in_flight(a.id)[1] == 1)
        started = time.monotonic()
        at_once = a.submit("people", Prefer="wait=3")
        quick = time.monotonic() - started
        waited = b.submit("people", Prefer="wait=1")
        first = held.result()
    assert (at_once.status_code, quick < 1.5) == (202, True)
    assert "Preference-Applied" not in at_once.headers
    assert at_once.get_json()["run"]["status"] == "PENDING"
    assert (waited.status_code, waited.headers["Preference-Applied"]) == (202, "wait=1")
    assert (first.status_code, first.headers["Preference-Applied"]) == (202, "wait=3")
    assert admission.in_flight(a.id) == (0, 0)


def _anonymous(client: Any, forwarded: str, path: str = "/v1/validators", **more: str) -> Any:
    return client.get(path, headers={"X-Forwarded-For": forwarded, **more})


def test_requests_without_a_valid_key_are_limited_per_client_address(orgs: Any) -> None:
    a, _ = orgs(anonymous_burst=3, anonymous_per_minute=60)
    client = a.client
    seen = [_anonymous(client, f"10.0.0.{i}, 203.0.113.7").status_code for i in range(3)]
    assert seen == [401, 401, 401]
    # Whatever the client writes before the front end's entry, it is the same client.
    refused = _anonymous(client, "198.51.100.1, 203.0.113.7")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.content_type == "application/problem+json"
    assert "this address" in refused.get_json()["detail"]
    wrong_key = {"Authorization": f"Bearer assay_{'x' * 20}_secret"}
    assert _anonymous(client, "203.0.113.7", **wrong_key).status_code == 429
    assert _anonymous(client, "203.0.113.7", "/v1/openapi.json").status_code == 429
    assert _anonymous(client, "203.0.113.7", "/nowhere").status_code == 429
    assert _anonymous(client, "203.0.113.7", "/healthz").status_code == 200  # probes pass
    # Another client, and a valid key that authenticated here lately, are unaffected.
    assert _anonymous(client, "203.0.113.8").status_code == 401
    keyed = {"Authorization": f"Bearer {a.key}"}
    assert _anonymous(client, "203.0.113.8", **keyed).status_code == 200
    assert _anonymous(client, "203.0.113.7", **keyed).status_code == 200


def test_an_address_past_its_budget_costs_no_key_read_and_valid_keys_cost_it_nothing(
    orgs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The address's budget is checked before the key is read, so a well-formed guess
    from an address past it costs no Firestore read; only failures are charged to the
    address, so any number of valid requests leave its budget whole."""
    a, b = orgs(anonymous_burst=3, anonymous_per_minute=1)
    reads: list[str] = []
    repos = wiring.repositories()
    real = repos.keys.get

    def counted(key_id: str) -> Any:
        reads.append(key_id)
        return real(key_id)

    monkeypatch.setattr(repos.keys, "get", counted)
    keyed = {"Authorization": f"Bearer {a.key}"}
    statuses = [_anonymous(a.client, "203.0.113.9", **keyed).status_code for _ in range(10)]
    assert statuses == [200] * 10
    guess = {"Authorization": f"Bearer assay_{b.key.split('_')[1]}_not-its-secret"}
    statuses = [_anonymous(a.client, "203.0.113.9", **guess).status_code for _ in range(6)]
    assert statuses == [401] * 3 + [429] * 3
    assert len(reads) == 10 + 3  # the three refused guesses read nothing
    # A key that authenticated here lately still passes; one never seen waits its turn
    # (its secret unread), the price of refusing guesses before reading them.
    assert _anonymous(a.client, "203.0.113.9", **keyed).status_code == 200
    fresh = {"Authorization": f"Bearer {b.key}"}
    assert _anonymous(a.client, "203.0.113.9", **fresh).status_code == 429
    assert _anonymous(a.client, "203.0.113.10", **fresh).status_code == 200


def test_a_replay_of_an_idempotency_key_answers_its_run_while_the_org_is_at_its_limit(
    orgs: Any,
) -> None:
    a, _ = orgs(org_runs_in_flight=1)
    a.workflow("people")
    first = a.submit("people", **{"Idempotency-Key": "nightly-7"})
    assert first.status_code == 202
    assert a.submit("people").status_code == 429  # at its limit
    again = a.submit("people", **{"Idempotency-Key": "nightly-7"})
    assert again.status_code == 202, again.get_json()
    assert again.get_json()["run"]["id"] == first.get_json()["run"]["id"]
    other = a.submit("people", INVALID, **{"Idempotency-Key": "nightly-7"})
    assert other.status_code == 422  # the same key for another file is still refused
    assert len(a.get("/runs").get_json()["items"]) == 1


def test_concurrent_requests_of_two_orgs_each_get_their_own_answer(orgs: Any) -> None:
    a, b = orgs(org_inline_checks=16, inline_checks_per_instance=16)
    for org in (a, b):
        org.workflow("people", execution="auto")
    a.submit("people", Prefer="wait=10")  # the fork server is up before the race
    start = threading.Barrier(16)

    def request(i: int) -> tuple[Org, bytes, Any, Any]:
        org, data = (a, b)[i % 2], (VALID, INVALID)[i // 2 % 2]
        start.wait()
        answer = org.submit("people", data, Prefer="wait=20")
        return org, data, answer, org.get(f"/runs/{answer.get_json()['run']['id']}")

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(request, range(16)))
    for org, data, answer, read in answers:
        run = answer.get_json()["run"]
        assert (answer.status_code, run["org_id"]) == (200, org.id)
        assert run["result"] == ("PASS" if data == VALID else "FAIL")
        assert read.get_json()["id"] == run["id"] and read.get_json()["result"] == run["result"]
    assert len({answer.get_json()["run"]["id"] for _, _, answer, _ in answers}) == 16
    assert wiring.admission().in_flight(a.id) == (0, 0)


@pytest.mark.firestore
def test_a_small_file_with_many_findings_stores_a_capped_number_in_batches_inline(
    orgs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: a small file whose every value is wrong, checked inside the API
    request. The step stores at most MAX_STORED_FINDINGS findings (and its note), in
    commits of at most 500; the summary counts every finding, exactly."""
    from google.cloud.firestore_v1.batch import WriteBatch

    from shared.contract.envelopes import MAX_STORED_FINDINGS
    from shared.persistence.firestore.documents import BATCH_LIMIT

    a, _ = orgs()
    schema = {"type": "array", "items": {"type": "string"}}
    step = {"name": "Strings", "validator": "json-schema", "config": {"schema": schema}}
    a.workflow("many", execution="inline", steps=[step])
    commits: list[int] = []
    real = WriteBatch.commit

    def commit(batch: WriteBatch, *args: Any, **kwargs: Any) -> Any:
        commits.append(len(batch._write_pbs))
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(WriteBatch, "commit", commit)
    wrong = MAX_STORED_FINDINGS + 5_000
    answer = a.submit("many", b"[" + b",".join([b"1"] * wrong) + b"]", Prefer="wait=30")
    run = answer.get_json()["run"]
    assert (answer.status_code, run["steps"][0]["execution"], run["result"]) == (
        200,
        "inline",
        "FAIL",
    )
    summary = run["summary"]
    assert (summary["error_count"], summary["unstored_count"]) == (wrong, 5_000)
    stored = wiring.repositories().findings.count(run["id"])
    assert stored == MAX_STORED_FINDINGS + 1  # and the note that says the rest are counted
    assert max(commits) <= BATCH_LIMIT and len(commits) < 2 * stored / BATCH_LIMIT
