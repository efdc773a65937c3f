"""The audit log (decision record 0069), through the api function and the admin
commands: each change records one entry naming who, what, which object and which route;
a retried change records nothing more; only an admin reads the log, only its own org's;
and no entry holds content."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from shared.adapters.bucket_iam import StorageBucketIam
from shared.api.auth.api_keys import authenticate, issue_key, revoke_key
from shared.domain.enums import ActorKind, AuditAction, Role
from shared.domain.models import AuditEntry
from shared.services import uploaders
from tests.factories import make_org, workflow_body

SECRET = "Ada-7f3a-never-logged"
WORKFLOWS = "/v1/orgs/{org}/workflows"


def log(api: Any, action: AuditAction | None = None) -> list[AuditEntry]:
    """The org's whole log, newest first."""
    return list(api.repos.audit.page(api.org, action=action, limit=200).items)


def changes(api: Any) -> list[AuditEntry]:
    """The log without the key the harness made: what the test itself changed."""
    return [e for e in log(api) if e.action is not AuditAction.KEY_CREATED]


def key_id(api: Any) -> str:
    return str(authenticate(api.repos, f"Bearer {api.key}").id)


def by_the_key(api: Any, entry: AuditEntry) -> None:
    assert (entry.actor, entry.actor_kind) == (f"key:{key_id(api)}", ActorKind.KEY)


def create(api: Any, **extra: Any) -> None:
    answer = api.post(WORKFLOWS.format(org=api.org), json=workflow_body(**extra))
    assert answer.status_code == 201, answer.get_json()


def submit(api: Any) -> dict[str, Any]:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=json.dumps({"name": SECRET}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.get_json()
    return dict(answer.get_json())


def test_creating_and_saving_a_workflow_records_each_version(api: Any) -> None:
    create(api)
    (created,) = changes(api)
    by_the_key(api, created)
    assert created.action is AuditAction.WORKFLOW_CREATED
    assert (created.target, created.route) == ("workflow:people", "POST /v1/orgs/{org}/workflows")
    assert created.details == {"version": 1}

    saved = api.client.put(
        f"/v1/orgs/{api.org}/workflows/people", json=workflow_body(steps=2), headers=api.headers()
    )
    assert saved.status_code == 200, saved.get_json()
    newest = changes(api)[0]
    assert newest.action is AuditAction.WORKFLOW_SAVED and newest.details == {"version": 2}
    assert newest.route == "PUT /v1/orgs/{org}/workflows/{slug}"
    assert log(api, AuditAction.RETENTION_CHANGED) == []  # the same retention as before


def test_a_save_that_changes_retention_records_the_change(api: Any) -> None:
    create(api)
    body = workflow_body()
    body["retention"] = {"submission": "DO_NOT_STORE", "output": "STORE_7_DAYS"}
    path = f"/v1/orgs/{api.org}/workflows/people"
    assert api.client.put(path, json=body, headers=api.headers()).status_code == 200
    (changed,) = log(api, AuditAction.RETENTION_CHANGED)
    by_the_key(api, changed)
    assert changed.target == "workflow:people"
    assert changed.details == {
        "version": 2,
        "retention": {"submission": "DO_NOT_STORE", "output": "STORE_7_DAYS"},
        "previous_retention": {"submission": "STORE_7_DAYS", "output": "STORE_30_DAYS"},
    }
    assert len(log(api, AuditAction.WORKFLOW_SAVED)) == 1


def upload(api: Any, name: str, data: bytes) -> Any:
    return api.post(
        f"/v1/orgs/{api.org}/workflows/people/resources",
        data={"file": (io.BytesIO(data), name, "application/json"), "name": name},
        content_type="multipart/form-data",
    )


def test_uploading_and_deleting_a_resource_are_recorded_without_its_content(api: Any) -> None:
    create(api)
    content = json.dumps({"description": SECRET}).encode()
    assert upload(api, "extra.json", content).status_code == 201
    (uploaded,) = log(api, AuditAction.RESOURCE_UPLOADED)
    by_the_key(api, uploaded)
    assert uploaded.target == "resource:people/extra.json"
    assert uploaded.route == "POST /v1/orgs/{org}/workflows/{slug}/resources"
    assert uploaded.details == {"size_bytes": len(content)}

    path = f"/v1/orgs/{api.org}/workflows/people/resources/extra.json"
    assert api.client.delete(path, headers=api.headers()).status_code == 204
    (deleted,) = log(api, AuditAction.RESOURCE_DELETED)
    assert deleted.route == "DELETE /v1/orgs/{org}/workflows/{slug}/resources/{name}"
    # A delete that finds nothing changes nothing, and records nothing.
    assert api.client.delete(path, headers=api.headers()).status_code == 404
    assert len(log(api, AuditAction.RESOURCE_DELETED)) == 1
    assert SECRET not in json.dumps([e.model_dump(mode="json") for e in log(api)])


def test_cancelling_a_run_records_it_once(api: Any) -> None:
    create(api)
    run_id = submit(api)["run"]["id"]
    for _ in range(2):  # a retried cancel: the same change
        assert api.post(f"/v1/orgs/{api.org}/runs/{run_id}/cancel").status_code == 200
    (cancelled,) = log(api, AuditAction.RUN_CANCELLED)
    by_the_key(api, cancelled)
    assert (cancelled.target, cancelled.route) == (
        f"run:{run_id}",
        "POST /v1/orgs/{org}/runs/{run}/cancel",
    )


def test_a_do_not_store_rerun_is_recorded_and_no_content_reaches_the_log(api: Any) -> None:
    create(api, retention={"submission": "DO_NOT_STORE", "output": "STORE_30_DAYS"})
    submission_id = submit(api)["submission"]["id"]
    answer = api.post(
        f"/v1/orgs/{api.org}/submissions/{submission_id}/runs", json={"user": f"user-{SECRET}"}
    )
    assert answer.status_code == 202, answer.get_json()
    (rerun,) = log(api, AuditAction.RUN_RERUN)
    by_the_key(api, rerun)
    assert rerun.target == f"run:{answer.get_json()['run']['id']}"
    assert rerun.route == "POST /v1/orgs/{org}/submissions/{submission}/runs"
    assert rerun.details == {"submission_id": submission_id}
    assert SECRET not in json.dumps([e.model_dump(mode="json") for e in log(api)])


def test_keys_made_and_revoked_by_an_operator_are_recorded_once(api: Any) -> None:
    record, _ = issue_key(api.repos, api.org, "ci", role=Role.SUBMITTER)
    for _ in range(2):  # the first revocation stands; the second is the same entry
        revoke_key(api.repos, api.org, record.id)
    (revoked,) = log(api, AuditAction.KEY_REVOKED)
    made = [e for e in log(api, AuditAction.KEY_CREATED) if e.target == f"key:{record.id}"]
    assert [e.details for e in made] == [{"role": "submitter"}]
    assert made[0].route == "cli: assay admin create-key"
    assert revoked.target == f"key:{record.id}" and revoked.route == "cli: assay admin revoke-key"
    assert revoked.actor_kind is ActorKind.OPERATOR and revoked.actor.startswith("operator:")


@pytest.fixture
def iam(serve: Any, tmp_path: Any) -> StorageBucketIam:
    """The uploads bucket's IAM policy, on the local stand-in."""
    from devstack.signed_url_gate import SignedUrlGate

    gate = serve(SignedUrlGate({"uploads": (tmp_path / "uploads").as_uri()}, "http://127.0.0.1:9"))
    return StorageBucketIam("uploads", gate.url)


def test_uploaders_added_and_removed_are_recorded_and_a_repeat_is_no_change(
    api: Any, iam: StorageBucketIam
) -> None:
    member = "serviceAccount:pipeline@customer.iam.gserviceaccount.com"
    for _ in range(2):
        uploaders.add_uploader(api.repos, iam, "uploads", api.org, member)
    assert uploaders.remove_uploader(api.repos, iam, "uploads", api.org, member)
    assert not uploaders.remove_uploader(api.repos, iam, "uploads", api.org, member)
    added, removed = log(api, AuditAction.UPLOADER_ADDED), log(api, AuditAction.UPLOADER_REMOVED)
    assert [(e.target, e.route) for e in added] == [
        (f"uploader:{member}", "cli: assay admin uploaders add")
    ]
    assert [(e.target, e.route) for e in removed] == [
        (f"uploader:{member}", "cli: assay admin uploaders remove")
    ]


def test_only_an_admin_reads_the_log_and_only_its_own_orgs(api: Any) -> None:
    create(api)
    path = f"/v1/orgs/{api.org}/audit"
    answer = api.get(path)
    assert answer.status_code == 200, answer.get_json()
    items = answer.get_json()["items"]
    assert [i["action"] for i in items] == ["workflow.created", "key.created"]
    assert items[0]["actor"] == f"key:{key_id(api)}" and "org_id" in items[0]
    for role in (Role.VIEWER, Role.SUBMITTER, Role.AUTHOR):
        _, secret = issue_key(api.repos, api.org, role.value, role=role)
        refused = api.client.get(path, headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 403, (role, refused.get_json())
        assert "'admin'" in refused.get_json()["detail"]
    _, other = make_org(api.repos, "other")
    foreign = api.client.get(path, headers={"Authorization": f"Bearer {other}"})
    assert foreign.status_code == 404


def test_the_log_pages_and_filters_through_the_api(api: Any) -> None:
    create(api)
    for steps in (2, 3):
        body = workflow_body(steps=steps)
        put = api.client.put(
            f"{WORKFLOWS.format(org=api.org)}/people", json=body, headers=api.headers()
        )
        assert put.status_code == 200
    path = f"/v1/orgs/{api.org}/audit"
    seen: list[str] = []
    token: str | None = None
    while True:
        query = {"limit": "1", **({"page_token": token} if token else {})}
        page = api.get(path, query_string=query).get_json()
        seen += [i["id"] for i in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [e.id for e in log(api)] and len(seen) == 4
    saved = api.get(path, query_string={"action": "workflow.saved"}).get_json()["items"]
    assert [i["details"]["version"] for i in saved] == [3, 2]
    assert api.get(path, query_string={"action": "nonsense"}).status_code == 400
    assert api.get(path, query_string={"page_token": "nonsense"}).status_code == 400


def test_the_admin_command_prints_the_log(api: Any) -> None:
    create(api)
    runner = CliRunner()
    listed = runner.invoke(main, ["admin", "audit", "--org", api.org, "--json", "--limit", "1"])
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.output)
    assert [i["action"] for i in page["items"]] == ["workflow.created"]
    assert page["next_page_token"]
    table = runner.invoke(main, ["admin", "audit", "--org", api.org])
    assert table.exit_code == 0 and "workflow" in table.output, table.output
    missing = runner.invoke(main, ["admin", "audit", "--org", "nope", "--json"])
    assert missing.exit_code == 2 and "does not exist" in json.loads(missing.output)["error"]


def test_the_members_service_records_through_member_changed(api: Any) -> None:
    from shared.services import audit

    actor = audit.Actor.member("grace@example.com")
    route = "POST /v1/orgs/{org}/members"
    audit.member_changed(
        api.repos, api.org, actor, AuditAction.MEMBER_ADDED, "ada@example.com", route, Role.AUTHOR
    )
    (added,) = log(api, AuditAction.MEMBER_ADDED)
    assert (added.actor, added.actor_kind) == ("member:grace@example.com", ActorKind.MEMBER)
    assert (added.target, added.details) == ("member:ada@example.com", {"role": "author"})
