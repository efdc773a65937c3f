"""The workflows pages: the list, a version's steps, config and resources, and the
author's editor that saves a new version as the API's PUT does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.enums import AuditAction
from shared.services import workflows
from tests.factories import workflow_body
from tests.integration.console_harness import (
    ADMIN,
    AUTHOR,
    STRANGER,
    SUBMITTER,
    VIEWER,
    ConsoleHarness,
)


@pytest.fixture
def site(console: ConsoleHarness) -> ConsoleHarness:
    workflows.create_workflow(
        console.repos, console.org, workflows.WorkflowCreate(**workflow_body())
    )
    return console


def _page(site: ConsoleHarness, email: str = VIEWER, query: str = "") -> Any:
    return site.get(f"/orgs/{site.org}/workflows/people{query}", email=email)


def _edit(site: ConsoleHarness, spec: Any, email: str = AUTHOR) -> Any:
    text = spec if isinstance(spec, str) else json.dumps(spec)
    return site.post(f"/orgs/{site.org}/workflows/people", email=email, data={"spec": text})


def _spec(**changes: Any) -> dict[str, Any]:
    body = workflow_body(**changes)
    body.pop("slug")
    return body


def test_the_list_names_each_workflow_and_its_latest_version(site: ConsoleHarness) -> None:
    answer = site.get(f"/orgs/{site.org}/workflows", email=VIEWER)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert f'href="/orgs/{site.org}/workflows/people">People</a>' in html
    assert "<td>v1</td>" in html


def test_a_workflow_shows_its_steps_config_and_resources(site: ConsoleHarness) -> None:
    answer = _page(site)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "Schema 0" in html and "json-schema" in html
    assert "&#34;schema&#34;" in html  # the config, as JSON, escaped
    assert "No resources." in html and "STORE_7_DAYS" in html


def test_viewers_and_submitters_see_no_editor_and_cannot_save(site: ConsoleHarness) -> None:
    for email in (VIEWER, SUBMITTER):
        html = _page(site, email).get_data(as_text=True)
        assert "<textarea" not in html and "Save as a new version" not in html
        refused = _edit(site, _spec(name="Renamed"), email=email)
        assert refused.status_code == 403
        assert "author" in refused.get_data(as_text=True)
    assert site.repos.workflows.get(site.org, "people").latest_version == 1


def test_an_author_saves_a_new_version_from_the_editor(site: ConsoleHarness) -> None:
    assert "Save as a new version" in _page(site, AUTHOR).get_data(as_text=True)
    answer = _edit(site, _spec(name="People, renamed", steps=2))
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/orgs/{site.org}/workflows/people?saved=2"
    workflow = site.repos.workflows.get(site.org, "people")
    assert workflow.latest_version == 2
    version = site.repos.workflows.version(workflow)
    assert version.name == "People, renamed" and len(version.steps) == 2
    page = site.get(answer.headers["Location"], email=AUTHOR).get_data(as_text=True)
    assert "Saved version 2." in page
    entries = site.repos.audit.page(site.org, limit=10).items
    saved = [e for e in entries if e.action is AuditAction.WORKFLOW_SAVED]
    assert saved and saved[0].actor.endswith(AUTHOR)


def test_an_older_version_is_shown_on_request(site: ConsoleHarness) -> None:
    _edit(site, _spec(name="Second"))
    old = _page(site, query="?version=1").get_data(as_text=True)
    assert "<h1>People" in old and 'aria-current="page">v1<' in old
    assert "<h1>Second" in _page(site).get_data(as_text=True)
    assert _page(site, query="?version=x").status_code == 400
    assert _page(site, query="?version=9").status_code == 404


def test_invalid_json_is_explained_and_the_text_kept(site: ConsoleHarness) -> None:
    text = '{"name": "x", </textarea><script>alert(1)</script>'
    answer = _edit(site, text)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "the spec is not valid JSON" in html and "Nothing was saved" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert site.repos.workflows.get(site.org, "people").latest_version == 1


def test_a_spec_the_service_refuses_names_the_field(site: ConsoleHarness) -> None:
    answer = _edit(site, {"name": "No steps", "steps": []})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "steps" in html and "No steps" in html  # the reason, and the text as sent
    assert _edit(site, {**_spec(), "slug": "other"}).status_code == 400
    assert site.repos.workflows.get(site.org, "people").latest_version == 1


def test_an_edit_without_the_csrf_token_is_refused(site: ConsoleHarness) -> None:
    answer = site.client.post(
        f"/orgs/{site.org}/workflows/people",
        headers=site.headers(ADMIN),
        data={"spec": json.dumps(_spec(name="Forged"))},
    )
    assert answer.status_code == 403
    assert site.repos.workflows.get(site.org, "people").latest_version == 1


def test_a_non_member_is_told_the_org_does_not_exist(site: ConsoleHarness) -> None:
    for path in ("/workflows", "/workflows/people"):
        assert site.get(f"/orgs/{site.org}{path}", email=STRANGER).status_code == 404
    assert _edit(site, _spec(), email=STRANGER).status_code == 404
    assert site.get(f"/orgs/{site.org}/workflows/nope", email=VIEWER).status_code == 404
