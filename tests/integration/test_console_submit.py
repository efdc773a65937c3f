"""Submitting through the console: the form's POST makes a run for the member and opens
it; the signed-URL path grants a URL for the member, and what they PUT becomes a run."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests

from devstack.dispatcher import Dispatcher
from devstack.metadata_server import MetadataServer
from devstack.signed_url_gate import SignedUrlGate
from shared import wiring
from shared.domain.callers import MEMBER_PREFIX
from shared.domain.enums import Role
from shared.platform.config import get_settings
from shared.services import members, queries, workflows
from tests.factories import workflow_body
from tests.integration.console_harness import (
    AUTHOR,
    CSRF,
    STRANGER,
    SUBMITTER,
    VIEWER,
    ConsoleHarness,
)
from tests.integration.test_signed_uploads import API_SA, deliver

DOC = json.dumps({"name": "Ada", "age": 36}).encode()


@pytest.fixture
def site(dispatcher: Dispatcher, console: ConsoleHarness) -> ConsoleHarness:
    """The console with the Cloud Tasks stand-in and a workflow `people` taking JSON."""
    workflows.create_workflow(
        console.repos, console.org, workflows.WorkflowCreate(**workflow_body())
    )
    return console


def _runs(site: ConsoleHarness) -> list[Any]:
    return queries.runs(site.repos, site.org, queries.RunFilter()).items


def _send(site: ConsoleHarness, email: str, data: bytes, name: str, **fields: Any) -> Any:
    form = {"workflow": "people", "file": (io.BytesIO(data), name), **fields}
    return site.post(
        f"/orgs/{site.org}/submit", email=email, data=form, content_type="multipart/form-data"
    )


def test_the_form_lists_the_workflows_and_works_without_scripts(site: ConsoleHarness) -> None:
    page = site.get(f"/orgs/{site.org}/submit?workflow=people", email=SUBMITTER)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'type="file" name="file"' in html
    assert '<option value="people" data-types="json" selected>' in html
    assert '<script src="/assets/submit.js"></script>' in html


def test_a_submitted_file_opens_its_run_made_for_the_member(site: ConsoleHarness) -> None:
    answer = _send(site, SUBMITTER, DOC, "ada.json")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(f"/orgs/{site.org}/runs/")
    run = site.repos.runs.get(site.org, location.rsplit("/", 1)[1])
    assert run.workflow_slug == "people"
    submission = site.repos.submissions.get(site.org, run.submission_id)
    assert submission.api_key_id == f"{MEMBER_PREFIX}{SUBMITTER}"
    assert submission.original_filename == "ada.json"


def test_a_viewer_may_not_submit_nor_see_the_form(site: ConsoleHarness) -> None:
    assert site.get(f"/orgs/{site.org}/submit", email=VIEWER).status_code == 403
    refused = _send(site, VIEWER, DOC, "ada.json")
    assert refused.status_code == 403
    assert "submitter" in refused.get_data(as_text=True)
    assert 'href="/orgs/' + site.org + '/submit"' not in site.get(
        f"/orgs/{site.org}/runs", email=VIEWER
    ).get_data(as_text=True)
    assert _runs(site) == []


def test_a_non_member_is_told_the_org_does_not_exist(site: ConsoleHarness) -> None:
    assert site.get(f"/orgs/{site.org}/submit", email=STRANGER).status_code == 404
    assert _send(site, STRANGER, DOC, "ada.json").status_code == 404


def test_a_submission_without_the_csrf_token_is_refused(site: ConsoleHarness) -> None:
    form = {"workflow": "people", "file": (io.BytesIO(DOC), "ada.json")}
    answer = site.client.post(
        f"/orgs/{site.org}/submit",
        headers=site.headers(SUBMITTER),
        data=form,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 403
    assert _runs(site) == []


def test_a_file_the_workflow_does_not_take_is_refused_with_the_reason(
    site: ConsoleHarness,
) -> None:
    answer = _send(site, SUBMITTER, b"<a>not json</a>", "model.xml")
    assert answer.status_code == 415
    html = answer.get_data(as_text=True)
    assert "workflow &#39;people&#39; accepts [&#39;json&#39;]" in html
    assert "Nothing was stored" in html and 'type="file"' in html
    assert _runs(site) == []


def test_a_name_in_the_file_is_shown_escaped(site: ConsoleHarness) -> None:
    answer = _send(site, SUBMITTER, b"x", "<img src=x onerror=alert(1)>.xml")
    assert answer.status_code == 415
    html = answer.get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_no_workflow_chosen_is_a_clear_400(site: ConsoleHarness) -> None:
    answer = _send(site, SUBMITTER, DOC, "ada.json", workflow="")
    assert answer.status_code == 400
    assert "choose a workflow" in answer.get_data(as_text=True)


@pytest.fixture
def signed(site: ConsoleHarness, serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """As tests/integration/test_signed_uploads.py: the IAM stand-in signs, the gate takes
    the PUT into an uploads folder."""
    metadata = serve(MetadataServer([API_SA], API_SA, "assay-test"))
    uploads_uri = (tmp_path / "uploads").as_uri()
    certs = metadata.url + "/service_accounts/v1/metadata/x509/{email}"
    gate = serve(SignedUrlGate({"uploads": uploads_uri}, certs))
    for key, value in {
        "ASSAY_UPLOADS_URI": uploads_uri,
        "ASSAY_UPLOAD_SIGNER": API_SA,
        "ASSAY_IAM_ENDPOINT": metadata.url,
        "ASSAY_SIGNED_URL_ENDPOINT": gate.url,
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    return site


def _grant(site: ConsoleHarness, email: str, csrf: str | None = CSRF, **fields: Any) -> Any:
    body = {"workflow": "people", "filename": "Ada (1).json", "size_bytes": len(DOC), **fields}
    site.client.set_cookie("assay_csrf", CSRF)
    extra = {"X-CSRF-Token": csrf} if csrf else {}
    return site.client.post(
        f"/orgs/{site.org}/submit/grant.json", headers=site.headers(email, **extra), json=body
    )


def test_the_page_offers_signed_uploads_when_a_signer_is_set(signed: ConsoleHarness) -> None:
    html = signed.get(f"/orgs/{signed.org}/submit", email=SUBMITTER).get_data(as_text=True)
    assert f'data-grant-url="/orgs/{signed.org}/submit/grant.json"' in html


def test_a_granted_upload_becomes_the_members_run(signed: ConsoleHarness) -> None:
    answer = _grant(signed, SUBMITTER)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    granted = answer.get_json()
    assert granted["method"] == "PUT" and "X-Goog-Signature=" in granted["url"]
    assert granted["headers"]["Content-Type"] == "application/json"  # guessed from the name
    status_url = granted["status_url"]
    waiting = signed.get(status_url, email=SUBMITTER)
    assert waiting.status_code == 404 and waiting.is_json  # not arrived: the page polls on

    stored = requests.put(granted["url"], data=DOC, headers=granted["headers"], timeout=30)
    assert stored.status_code == 200, stored.text
    object_name = granted["url"].split("/uploads/", 1)[1].split("?", 1)[0]
    assert object_name.endswith("/Ada_1_.json")  # the person's file name, made plain
    result = deliver(f"{get_settings().uploads_uri}/{object_name}")

    seen = signed.get(status_url, email=SUBMITTER).get_json()
    assert seen["accepted"] and seen["run_id"] == result.run_id
    assert seen["run_url"] == f"/orgs/{signed.org}/runs/{result.run_id}"
    run = signed.repos.runs.get(signed.org, result.run_id)
    submission = signed.repos.submissions.get(signed.org, run.submission_id)
    assert submission.api_key_id == f"{MEMBER_PREFIX}{SUBMITTER}"


def test_a_grant_says_why_a_file_is_refused(signed: ConsoleHarness) -> None:
    answer = _grant(signed, SUBMITTER, filename="model.xml")
    assert answer.status_code == 415
    assert answer.is_json and "accepts ['json']" in answer.get_json()["detail"]


def test_a_grant_needs_the_csrf_header_and_the_submitter_role(signed: ConsoleHarness) -> None:
    assert _grant(signed, SUBMITTER, csrf=None).status_code == 403
    assert _grant(signed, SUBMITTER, csrf="x" * 43).status_code == 403
    refused = _grant(signed, VIEWER)
    assert refused.status_code == 403 and refused.is_json
    assert _grant(signed, STRANGER).status_code == 404


def test_an_upload_of_a_member_who_lost_the_role_makes_no_run(signed: ConsoleHarness) -> None:
    granted = _grant(signed, AUTHOR).get_json()
    requests.put(granted["url"], data=DOC, headers=granted["headers"], timeout=30)
    members.change_role(signed.repos, signed.org, AUTHOR, Role.VIEWER)
    object_name = granted["url"].split("/uploads/", 1)[1].split("?", 1)[0]
    result = deliver(f"{get_settings().uploads_uri}/{object_name}")
    assert result.run_id is None
    seen = signed.get(granted["status_url"], email=AUTHOR).get_json()
    assert not seen["accepted"] and seen["run_url"] is None and seen["reason"]
