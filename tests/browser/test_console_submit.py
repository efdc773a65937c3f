"""Submitting and workflows in a real browser: the form sends a file and lands on its
run; a large file asks for a signed URL through the page's script, which shows the
service's refusal in the live region; an author edits a workflow's spec as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from shared.domain.enums import Role
from shared.domain.models import Organization
from shared.services import workflows
from shared.services.members import add_member
from tests.browser.console import (
    ConsoleDriver,
    assert_accessible,
    console_errors,
    screenshot,
    sign_in,
)
from tests.factories import workflow_body

CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DOC = json.dumps({"name": "Ada", "age": 36})


def _org(repos: Any, org_id: str, email: str, role: Role) -> None:
    repos.orgs.create(Organization(id=org_id, name="Acme", created_at=CREATED))
    add_member(repos, org_id, email, role, now=lambda: CREATED)
    body = workflows.WorkflowCreate(**workflow_body())
    workflows.create_workflow(repos, org_id, body, now=lambda: CREATED)


def _wait(browser: ConsoleDriver, condition: Any) -> Any:
    return WebDriverWait(browser, 30).until(condition)


def test_a_file_sent_with_the_form_opens_its_run(
    browser: ConsoleDriver, console_repos: Any, tmp_path: Path
) -> None:
    org = "SubmitFormOrg0000001"
    _org(console_repos, org, "sam@example.com", Role.SUBMITTER)
    chosen = tmp_path / "ada.json"
    chosen.write_text(DOC)

    sign_in(browser, "sam@example.com")
    browser.open(f"/orgs/{org}/submit?workflow=people")
    assert console_errors(browser) == []
    screenshot(browser, "submit")
    assert_accessible(browser, "the submit page")

    browser.find_element(By.ID, "submit-file").send_keys(str(chosen))
    browser.find_element(By.CSS_SELECTOR, "#submit-form button[type=submit]").click()

    _wait(browser, expected_conditions.url_contains(f"/orgs/{org}/runs/"))
    run_id = browser.path.rsplit("/", 1)[1]
    run = console_repos.runs.get(org, run_id)
    submission = console_repos.submissions.get(org, run.submission_id)
    assert submission.api_key_id == "member:sam@example.com"


def test_a_large_file_the_workflow_refuses_is_explained_in_place(
    browser: ConsoleDriver, console_repos: Any, tmp_path: Path
) -> None:
    org = "SubmitLargeOrg000002"
    _org(console_repos, org, "sid@example.com", Role.SUBMITTER)
    chosen = tmp_path / "big.xml"
    chosen.write_bytes(b"<a>" + b"x" * (2 * 1024 * 1024) + b"</a>")  # over the form's share

    sign_in(browser, "sid@example.com")
    browser.open(f"/orgs/{org}/submit")
    Select(browser.find_element(By.ID, "submit-workflow")).select_by_value("people")
    browser.find_element(By.ID, "submit-file").send_keys(str(chosen))
    browser.find_element(By.CSS_SELECTOR, "#submit-form button[type=submit]").click()

    problem = browser.find_element(By.ID, "submit-error")
    _wait(browser, lambda _: problem.is_displayed() and problem.text)
    assert "accepts ['json']" in problem.text, problem.text
    assert browser.path == f"/orgs/{org}/submit"  # the script kept the page
    # The browser logs the refused grant (415) itself; nothing else may fail.
    assert all("415" in message for message in console_errors(browser))
    assert_accessible(browser, "the submit page with a refusal")


def test_an_author_saves_a_new_version_and_sees_a_refusal_beside_the_editor(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    org = "WorkflowsEditOrg0003"
    _org(console_repos, org, "ava@example.com", Role.AUTHOR)

    sign_in(browser, "ava@example.com")
    browser.open(f"/orgs/{org}/workflows")
    screenshot(browser, "workflows")
    assert_accessible(browser, "the workflows page")
    browser.find_element(By.LINK_TEXT, "People").click()
    assert browser.path == f"/orgs/{org}/workflows/people"
    screenshot(browser, "workflow")
    assert_accessible(browser, "a workflow's page")

    editor = browser.find_element(By.ID, "spec")
    spec = json.loads(editor.get_attribute("value") or "")
    editor.clear()
    editor.send_keys('{"name": ')
    browser.find_element(By.CSS_SELECTOR, "form.editor button[type=submit]").click()
    refusal = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "spec-error")))
    assert "the spec is not valid JSON" in refusal.text
    assert browser.find_element(By.ID, "spec").get_attribute("value") == '{"name": '
    assert_accessible(browser, "a workflow's page with a refused spec")
    # The refusal's page comes with its status (400), which the browser logs itself.
    assert all("400" in message for message in console_errors(browser))

    spec["name"] = "People, renamed"
    editor = browser.find_element(By.ID, "spec")
    editor.clear()
    browser.execute_script("arguments[0].value = arguments[1]", editor, json.dumps(spec))
    browser.find_element(By.CSS_SELECTOR, "form.editor button[type=submit]").click()
    _wait(browser, expected_conditions.url_contains("?saved=2"))
    assert browser.path == f"/orgs/{org}/workflows/people?saved=2"
    assert "Saved version 2." in browser.text() and "People, renamed" in browser.text()
    assert console_errors(browser) == []
