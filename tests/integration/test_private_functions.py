"""The private functions' gate (shared/api/private.py), through each function as deployed
(functions-framework's test client) with real ID tokens from the metadata stand-in: no
token, a token that is not a JWT, or one minted for another function is a 401; a caller
off the function's allow-list a 403; all problem+json, and the handler never runs. The
on_upload CloudEvent function is gated the same way: tests/integration/test_on_upload.py.

And the `launch` function tells a launch task from a cancel task by its kind, or, for a
task queued before tasks carried one, by its shape (decision record 0065)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from functions_framework import create_app

from devstack.metadata_server import MetadataServer
from shared import wiring
from shared.api.http import PROBLEM
from tests.conftest import PROJECT

TASKS = f"tasks@{PROJECT}.iam.gserviceaccount.com"
SCHEDULER = f"scheduler@{PROJECT}.iam.gserviceaccount.com"
VALIDATOR = f"validator@{PROJECT}.iam.gserviceaccount.com"
STRANGER = f"someone@{PROJECT}.iam.gserviceaccount.com"
# The launch URL is the one the Cloud Tasks stand-in (the `dispatcher` fixture) sets.
URLS = {
    "launch": "http://127.0.0.1:9/launch",
    "callback": "http://127.0.0.1:9/callback",
    "purge": "http://127.0.0.1:9/purge",
    "retry": "http://127.0.0.1:9/retry",
}
INVOKERS = {"launch": TASKS, "callback": VALIDATOR, "purge": SCHEDULER, "retry": SCHEDULER}
# A body each handler refuses with a 422 once it runs: the gate let the call through.
REFUSED_BODIES: dict[str, Any] = {
    "launch": {"kind": "reboot", "run_id": "x"},
    "callback": {"run_id": "x"},
    "purge": {"batch_size": 0},
    "retry": {"batch_size": 0},
}


@dataclass
class Private:
    metadata: MetadataServer

    def token(self, email: str, audience: str) -> str:
        return self.metadata.minter.mint(email, audience)

    def post(self, function: str, body: Any, token: str | None) -> Any:
        client = create_app(target=function, source="functions/main.py").test_client()
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return client.post("/", json=body, headers=headers)


@pytest.fixture
def private(env: Any, serve: Any, monkeypatch: pytest.MonkeyPatch) -> Private:
    metadata = MetadataServer([TASKS, SCHEDULER, VALIDATOR, STRANGER], None, PROJECT)
    monkeypatch.setenv("ASSAY_CERTS_URL", serve(metadata).url + "/oauth2/v1/certs")
    for function, url in URLS.items():
        monkeypatch.setenv(f"ASSAY_{function.upper()}_URL", url)
        monkeypatch.setenv(f"ASSAY_{function.upper()}_INVOKERS", INVOKERS[function])
    wiring.reset()
    return Private(metadata)


@pytest.mark.parametrize("function", sorted(URLS))
@pytest.mark.parametrize(
    ("case", "status"),
    [("no token", 401), ("not a JWT", 401), ("another function's", 401), ("stranger", 403)],
)
def test_a_private_function_refuses_a_caller_it_does_not_know(
    private: Private, function: str, case: str, status: int
) -> None:
    other = next(url for name, url in URLS.items() if name != function)
    tokens = {
        "no token": None,
        "not a JWT": "abc.def.ghi",
        "another function's": private.token(INVOKERS[function], other),
        "stranger": private.token(STRANGER, URLS[function]),
    }
    answer = private.post(function, REFUSED_BODIES[function], tokens[case])
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == PROBLEM
    assert answer.get_json()["status"] == status


@pytest.mark.parametrize("function", sorted(URLS))
def test_a_private_function_runs_its_handler_for_its_own_invoker(
    private: Private, function: str
) -> None:
    token = private.token(INVOKERS[function], URLS[function])
    answer = private.post(function, REFUSED_BODIES[function], token)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.mimetype == PROBLEM


def test_launch_tells_tasks_apart_by_kind_and_queued_ones_by_shape(
    private: Private, api: Any
) -> None:
    """A pending run: its launch of a step it lacks answers from the launch path, its
    cancel from the cancel path, whether the body names its kind or predates kinds."""
    from tests.integration.test_run_control import submitted

    run_id = submitted(api)["run"]["id"]
    token = private.token(TASKS, URLS["launch"])
    launch = {"run_id": run_id, "step_order": 99, "attempt": 1}
    cancel = {"run_id": run_id, "execution_name": "projects/p/executions/e"}
    bodies = [
        (launch, "run has no step 99"),
        ({"kind": "launch", **launch}, "run has no step 99"),
        (cancel, "not ended"),
        ({"kind": "cancel", **cancel}, "not ended"),
    ]
    for body, outcome in bodies:
        answer = private.post("launch", body, token)
        assert answer.status_code == 200, (body, answer.get_data(as_text=True))
        assert outcome in answer.get_json()["outcome"], body
    mislabelled = private.post("launch", {"kind": "launch", **cancel}, token)
    assert mislabelled.status_code == 422
    assert "execution_name" in mislabelled.get_json()["detail"]
