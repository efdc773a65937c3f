"""Keys with roles (issue 20, item 5), through the api function against the Firestore
emulator: every route x every role answers what the route's declared role says (a route
with no example request or no role fails here), a refusal is a 403 problem naming the
role needed and the key's, tenancy decides before the role, a submitter acts only on its
own submissions, and only an admin makes a workflow keep anything longer."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from shared import wiring
from shared.api.auth.api_keys import issue_key
from shared.domain.enums import Role
from tests.factories import make_org, workflow_body

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions"))

from handlers.api import PUBLIC, ROLES, URLS  # noqa: E402

API_SA = "assay-api@assay-test.iam.gserviceaccount.com"
VALID = b'{"name": "Ada", "email": "ada@example.com"}'
PROBLEM = "application/problem+json"


@dataclass
class Scene:
    """One org with a key of each role; what a request needs is made on first use, as
    the key under test where that role may (so its runs are its own), else as admin."""

    api: Any
    keys: dict[Role, str]
    role: Role

    def call(self, method: str, path: str, role: Role | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[role or self.role]}"}
        headers.update(kwargs.pop("headers", {}))
        return self.api.client.open(path, method=method, headers=headers, **kwargs)

    @property
    def org(self) -> str:
        return str(self.api.org)

    @property
    def maker(self) -> Role:
        return self.role if self.role.allows(Role.SUBMITTER) else Role.ADMIN

    @cached_property
    def workflow(self) -> str:
        if self.api.repos.workflows.find(self.org, "people") is not None:
            return "people"
        created = self.call("POST", f"/v1/orgs/{self.org}/workflows", Role.ADMIN, json=BODY)
        assert created.status_code == 201, created.get_json()
        return "people"

    @cached_property
    def submitted(self) -> dict[str, Any]:
        answer = submit(self, self.maker)
        assert answer.status_code == 202, answer.get_json()
        return dict(answer.get_json())

    @cached_property
    def webhook(self) -> str:
        """Registered as admin for each scene: an earlier one may have deleted it."""
        made = self.call("POST", f"/v1/orgs/{self.org}/webhooks", Role.ADMIN, json=HOOK)
        assert made.status_code == 201, made.get_json()
        return str(made.get_json()["id"])

    @cached_property
    def resource(self) -> str:
        """Uploaded again for each scene: an earlier one may have deleted it."""
        uploaded = upload(self, Role.ADMIN, "extra.json")
        assert uploaded.status_code == 201, uploaded.get_json()
        return "extra.json"


BODY = workflow_body()
# A public address, so registration needs no DNS.
HOOK = {"url": "https://93.184.216.34/hooks/assay", "events": ["run.completed"]}


def submit(scene: Scene, role: Role) -> Any:
    return scene.call(
        "POST",
        f"/v1/orgs/{scene.org}/workflows/{scene.workflow}/runs",
        role,
        data=VALID,
        headers={"Content-Type": "application/json"},
    )


def upload(scene: Scene, role: Role | None, name: str) -> Any:
    return scene.call(
        "POST",
        f"/v1/orgs/{scene.org}/workflows/{scene.workflow}/resources",
        role,
        data={"file": (io.BytesIO(b"{}"), name, "application/json"), "name": name},
        content_type="multipart/form-data",
    )


def _wf(s: Scene) -> str:
    return f"/v1/orgs/{s.org}/workflows/{s.workflow}"


def _run(s: Scene) -> str:
    return f"/v1/orgs/{s.org}/runs/{s.submitted['run']['id']}"


def _sub(s: Scene) -> str:
    return f"/v1/orgs/{s.org}/submissions/{s.submitted['submission']['id']}"


def _grant(s: Scene) -> Any:
    body = {"filename": "p.json", "content_type": "application/json", "size_bytes": len(VALID)}
    return s.call("POST", f"{_wf(s)}/uploads", json=body)


# Each route, asked by the key under test; what it answers when the role allows it; and
# the least role it must need (stated here as well, so a loosened route fails). The two
# upload lookups answer 404 for an upload that has not arrived: the handler ran.
EXAMPLES: dict[str, tuple[Callable[[Scene], Any], int, Role]] = {
    "list_validators": (lambda s: s.call("GET", "/v1/validators"), 200, Role.VIEWER),
    "list_workflows": (
        lambda s: s.call("GET", f"/v1/orgs/{s.org}/workflows"),
        200,
        Role.VIEWER,
    ),
    "create_workflow": (
        lambda s: s.call(
            "POST", f"/v1/orgs/{s.org}/workflows", json=workflow_body(f"new-{s.role.value}")
        ),
        201,
        Role.AUTHOR,
    ),
    "get_workflow": (lambda s: s.call("GET", _wf(s)), 200, Role.VIEWER),
    "update_workflow": (
        lambda s: s.call("PUT", _wf(s), json=workflow_body(steps=2)),
        200,
        Role.AUTHOR,
    ),
    "submit": (lambda s: submit(s, None), 202, Role.SUBMITTER),
    # Sorted, the turn-off comes first: off already (204), then on (201).
    "disable_badge": (lambda s: s.call("DELETE", f"{_wf(s)}/badge"), 204, Role.AUTHOR),
    "enable_badge": (lambda s: s.call("PUT", f"{_wf(s)}/badge"), 201, Role.AUTHOR),
    "list_resources": (lambda s: s.call("GET", f"{_wf(s)}/resources"), 200, Role.VIEWER),
    "upload_resource": (lambda s: upload(s, None, "more.json"), 201, Role.AUTHOR),
    "delete_resource": (
        lambda s: s.call("DELETE", f"{_wf(s)}/resources/{s.resource}"),
        204,
        Role.AUTHOR,
    ),
    "list_runs": (lambda s: s.call("GET", f"/v1/orgs/{s.org}/runs"), 200, Role.VIEWER),
    "list_audit": (lambda s: s.call("GET", f"/v1/orgs/{s.org}/audit"), 200, Role.ADMIN),
    "get_run": (lambda s: s.call("GET", _run(s)), 200, Role.VIEWER),
    "list_findings": (lambda s: s.call("GET", f"{_run(s)}/findings"), 200, Role.VIEWER),
    "cancel_run": (lambda s: s.call("POST", f"{_run(s)}/cancel"), 200, Role.SUBMITTER),
    "rerun": (lambda s: s.call("POST", f"{_sub(s)}/runs"), 202, Role.SUBMITTER),
    "get_submission": (lambda s: s.call("GET", _sub(s)), 200, Role.VIEWER),
    # A run just submitted has not ended: its evidence and credential are 409s (the
    # handler ran; what an ended run gets is test_evidence's and test_credentials').
    "get_run_evidence": (lambda s: s.call("GET", f"{_run(s)}/evidence"), 409, Role.VIEWER),
    "get_credential": (lambda s: s.call("GET", f"{_run(s)}/credential"), 409, Role.VIEWER),
    "create_webhook": (
        lambda s: s.call("POST", f"/v1/orgs/{s.org}/webhooks", json=HOOK),
        201,
        Role.ADMIN,
    ),
    "list_webhooks": (lambda s: s.call("GET", f"/v1/orgs/{s.org}/webhooks"), 200, Role.ADMIN),
    "rotate_webhook": (
        lambda s: s.call("POST", f"/v1/orgs/{s.org}/webhooks/{s.webhook}/rotate"),
        200,
        Role.ADMIN,
    ),
    "list_webhook_deliveries": (
        lambda s: s.call("GET", f"/v1/orgs/{s.org}/webhooks/{s.webhook}/deliveries"),
        200,
        Role.ADMIN,
    ),
    "delete_webhook": (
        lambda s: s.call("DELETE", f"/v1/orgs/{s.org}/webhooks/{s.webhook}"),
        204,
        Role.ADMIN,
    ),
    "grant_upload": (_grant, 201, Role.SUBMITTER),
    "get_granted_upload": (
        lambda s: s.call("GET", f"/v1/orgs/{s.org}/uploads/{'U' * 20}"),
        404,
        Role.VIEWER,
    ),
    "get_upload": (
        lambda s: s.call("GET", f"/v1/orgs/{s.org}/uploads/{s.workflow}/p.json?generation=1"),
        404,
        Role.VIEWER,
    ),
}
ENDPOINTS = sorted({str(r.endpoint) for r in URLS.iter_rules()} - PUBLIC)


@pytest.fixture
def keys(api: Any, serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[Role, str]:
    """A key of each role in the api's org; upload URLs signed by the IAM stand-in."""
    from devstack.metadata_server import MetadataServer
    from devstack.signed_url_gate import SignedUrlGate

    metadata = serve(MetadataServer([API_SA], API_SA, "assay-test"))
    uploads_uri = (tmp_path / "uploads").as_uri()
    certs = metadata.url + "/service_accounts/v1/metadata/x509/{email}"
    gate = serve(SignedUrlGate({"uploads": uploads_uri}, certs))
    for name, value in {
        "ASSAY_UPLOADS_URI": uploads_uri,
        "ASSAY_UPLOAD_SIGNER": API_SA,
        "ASSAY_IAM_ENDPOINT": metadata.url,
        "ASSAY_SIGNED_URL_ENDPOINT": gate.url,
    }.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    return {role: issue_key(api.repos, api.org, role.value, role=role)[1] for role in Role}


def assert_forbidden(answer: Any, needed: Role, held: Role) -> None:
    assert answer.status_code == 403, answer.get_data(as_text=True)
    assert answer.mimetype == PROBLEM
    detail = answer.get_json()["detail"]
    assert f"role {needed.value!r} or above" in detail, detail
    assert f"this key's role is {held.value!r}" in detail, detail


def _refusal(answer: Any, needed: Role, held: Role) -> str | None:
    """What is wrong with `answer` as the refusal of a `held` key on a `needed` route."""
    if answer.status_code != 403 or answer.mimetype != PROBLEM:
        return f"{answer.status_code} {answer.mimetype}, not a 403 problem"
    detail = answer.get_json()["detail"]
    if f"role {needed.value!r} or above" not in detail or f"is {held.value!r}" not in detail:
        return f"the detail names not both roles: {detail}"
    return None


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_route_answers_each_role_as_it_declares(
    api: Any, keys: dict[Role, str], role: Role
) -> None:
    """The table: every route asked by a key of `role` (a new Scene each, so one
    route's change is not another's precondition)."""
    wrong: list[str] = []
    for endpoint in ENDPOINTS:
        assert endpoint in ROLES, f"route {endpoint!r} declares no role"
        assert endpoint in EXAMPLES, f"add an example request for route {endpoint!r} here"
        ask, allowed, least = EXAMPLES[endpoint]
        assert ROLES[endpoint] is least, f"{endpoint} declares {ROLES[endpoint]}, not {least}"
        answer = ask(Scene(api, keys, role))
        if role.allows(least):
            if answer.status_code != allowed:
                wrong.append(f"{endpoint}: {answer.status_code}, not {allowed}: {answer.data!r}")
        elif (why := _refusal(answer, least, role)) is not None:
            wrong.append(f"{endpoint}: {why}")
    assert wrong == [], "\n".join(wrong)


def test_a_refused_request_changes_nothing(api: Any, keys: dict[Role, str]) -> None:
    scene = Scene(api, keys, Role.VIEWER)
    assert_forbidden(submit(scene, Role.VIEWER), Role.SUBMITTER, Role.VIEWER)
    assert api.repos.runs.page(api.org).items == []
    spec = workflow_body(retention={"submission": "STORE_1_DAY", "output": "STORE_1_DAY"})
    assert_forbidden(
        scene.call("PUT", _wf(scene), Role.SUBMITTER, json=spec), Role.AUTHOR, Role.SUBMITTER
    )
    current = api.repos.workflows.get(api.org, "people")
    assert current.latest_version == 1
    assert api.repos.workflows.version(current).retention.submission.value == "STORE_7_DAYS"


def test_tenancy_decides_before_the_role(api: Any, keys: dict[Role, str]) -> None:
    """A viewer of this org asking for another org's run, or to cancel it, gets the 404
    anyone outside that org gets: a 403 would say the run exists."""
    other_org, other_key = make_org(api.repos, "other")
    created = api.client.post(
        f"/v1/orgs/{other_org}/workflows",
        json=workflow_body(),
        headers={"Authorization": f"Bearer {other_key}"},
    )
    assert created.status_code == 201
    theirs = api.client.post(
        f"/v1/orgs/{other_org}/workflows/people/runs",
        data=VALID,
        headers={"Authorization": f"Bearer {other_key}", "Content-Type": "application/json"},
    ).get_json()["run"]["id"]
    scene = Scene(api, keys, Role.VIEWER)
    for method, path in (
        ("GET", f"/v1/orgs/{other_org}/runs/{theirs}"),
        ("POST", f"/v1/orgs/{other_org}/runs/{theirs}/cancel"),
        ("PUT", f"/v1/orgs/{other_org}/workflows/people"),
    ):
        answer = scene.call(method, path, json=workflow_body())
        assert answer.status_code == 404, (method, path, answer.get_json())
        assert answer.mimetype == PROBLEM
    # In its own org a submitter asking for the other org's run id: still not found.
    answer = scene.call("POST", f"/v1/orgs/{api.org}/runs/{theirs}/cancel", Role.SUBMITTER)
    assert answer.status_code == 404, answer.get_json()
    assert api.repos.runs.get(other_org, theirs).status.value == "PENDING"


def test_a_submitter_acts_only_on_its_own_submissions(api: Any, keys: dict[Role, str]) -> None:
    scene = Scene(api, keys, Role.SUBMITTER)
    scene.workflow  # noqa: B018 - made as admin
    another = issue_key(api.repos, api.org, "ci-2", role=Role.SUBMITTER)[1]
    keys_with_another = {**keys, Role.VIEWER: another}  # the viewer slot holds a 2nd submitter
    theirs = Scene(api, keys_with_another, Role.VIEWER)
    submitted = submit(theirs, Role.VIEWER).get_json()
    run, submission = submitted["run"]["id"], submitted["submission"]["id"]

    refused = scene.call("POST", f"/v1/orgs/{api.org}/runs/{run}/cancel")
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert "not submitted with this API key" in refused.get_json()["detail"]
    assert "'author'" in refused.get_json()["detail"]
    assert api.repos.runs.get(api.org, run).status.value == "PENDING"
    again = scene.call("POST", f"/v1/orgs/{api.org}/submissions/{submission}/runs")
    assert again.status_code == 403, again.get_json()
    assert api.repos.submissions.get(api.org, submission).run_ids == [run]

    # Its own: both work; an author acts on anyone's.
    mine = submit(scene, Role.SUBMITTER).get_json()
    assert (
        scene.call("POST", f"/v1/orgs/{api.org}/runs/{mine['run']['id']}/cancel").status_code == 200
    )
    rerun = f"/v1/orgs/{api.org}/submissions/{mine['submission']['id']}/runs"
    assert scene.call("POST", rerun).status_code == 202
    cancelled = scene.call("POST", f"/v1/orgs/{api.org}/runs/{run}/cancel", Role.AUTHOR)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "CANCELED"
    again = scene.call("POST", f"/v1/orgs/{api.org}/submissions/{submission}/runs", Role.AUTHOR)
    assert again.status_code == 202, again.get_json()


def _retention(submission: str, output: str = "STORE_30_DAYS") -> dict[str, Any]:
    return workflow_body(retention={"submission": submission, "output": output})


def _kept(api: Any) -> tuple[int, str, str]:
    workflow = api.repos.workflows.get(api.org, "people")
    retention = api.repos.workflows.version(workflow).retention
    return workflow.latest_version, retention.submission.value, retention.output.value


def test_only_an_admin_makes_a_workflow_keep_anything_longer(
    api: Any, keys: dict[Role, str]
) -> None:
    scene = Scene(api, keys, Role.AUTHOR)
    scene.workflow  # noqa: B018 - version 1 keeps submissions 7 days, outputs 30
    path = _wf(scene)

    for longer in (
        _retention("STORE_PERMANENTLY"),
        _retention("STORE_7_DAYS", "STORE_PERMANENTLY"),
    ):
        refused = scene.call("PUT", path, json=longer)
        assert_forbidden(refused, Role.ADMIN, Role.AUTHOR)
        assert "STORE_PERMANENTLY" in refused.get_json()["detail"]
    assert _kept(api) == (1, "STORE_7_DAYS", "STORE_30_DAYS")

    # Shorter, or as long, is an author's change; then back up to 7 days is longer again.
    assert scene.call("PUT", path, json=_retention("STORE_1_DAY")).status_code == 200
    assert (
        scene.call("PUT", path, json=_retention("DO_NOT_STORE", "STORE_1_DAY")).status_code == 200
    )
    assert _kept(api) == (3, "DO_NOT_STORE", "STORE_1_DAY")
    assert_forbidden(
        scene.call("PUT", path, json=_retention("DO_NOT_STORE", "STORE_7_DAYS")),
        Role.ADMIN,
        Role.AUTHOR,
    )
    assert (
        scene.call("PUT", path, json=_retention("DO_NOT_STORE", "STORE_1_DAY")).status_code == 200
    )

    admin = scene.call("PUT", path, Role.ADMIN, json=_retention("STORE_PERMANENTLY"))
    assert admin.status_code == 200, admin.get_json()
    assert _kept(api) == (5, "STORE_PERMANENTLY", "STORE_30_DAYS")


def test_a_new_workflow_keeps_longer_than_the_default_only_for_an_admin(
    api: Any, keys: dict[Role, str]
) -> None:
    scene = Scene(api, keys, Role.AUTHOR)
    forever = workflow_body("kept", retention={"submission": "STORE_PERMANENTLY"})
    assert_forbidden(
        scene.call("POST", f"/v1/orgs/{api.org}/workflows", json=forever), Role.ADMIN, Role.AUTHOR
    )
    assert api.repos.workflows.find(api.org, "kept") is None
    short = workflow_body("short", retention={"submission": "STORE_1_DAY"})
    assert scene.call("POST", f"/v1/orgs/{api.org}/workflows", json=short).status_code == 201
    made = scene.call("POST", f"/v1/orgs/{api.org}/workflows", Role.ADMIN, json=forever)
    assert made.status_code == 201, made.get_json()
