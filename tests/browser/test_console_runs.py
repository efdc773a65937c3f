"""The runs page in a real browser: a member sees the org's runs newest first, filters
them, opens one and reads its findings, filtered by severity; a viewer is shown no way
to change anything and is refused when they try."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from shared.domain.enums import Role, RunStatus, StepStatus
from shared.domain.models import Member
from tests.browser.console import ConsoleDriver, assert_accessible, screenshot, sign_in
from tests.browser.test_console_run import CREATED, _finished, _org, _run, _step

VIEWER = "vera@example.com"


def _runs(repos: Any, org: str) -> str:
    _org(repos, org)
    failed = _finished(repos, org, run_id="RunsPageFinished0001")
    passed = [_step(0, "fmu", StepStatus.PASSED, metrics={"level_final": 1.0})]
    # Ids are the stack's, across orgs: each test's runs have their own.
    _run(
        repos,
        org,
        "RunsPagePassed000001",
        RunStatus.SUCCEEDED,
        passed,
        ended_at=CREATED + timedelta(seconds=9),
        duration_ms=9000,
    )
    return failed


def test_a_member_filters_the_runs_opens_one_and_reads_its_findings(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    org = "RunsPageOrg000000001"
    failed = _runs(console_repos, org)

    sign_in(browser, "ada@example.com")
    browser.open(f"/orgs/{org}/runs")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert len(rows) == 2
    screenshot(browser, "runs")
    assert_accessible(browser, "the runs page")

    Select(browser.find_element(By.NAME, "status")).select_by_value("FAILED")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 20).until(lambda d: "status=FAILED" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == [failed]

    browser.find_element(By.LINK_TEXT, failed).click()
    WebDriverWait(browser, 20).until(lambda d: d.current_url.endswith(f"/runs/{failed}"))
    table = browser.find_element(By.CSS_SELECTOR, "table.findings")
    assert "A zone has no thermostat" in table.text
    assert "Unmet hours above 300" in table.text

    Select(browser.find_element(By.NAME, "severity")).select_by_value("ERROR")
    browser.find_element(By.CSS_SELECTOR, "#findings + form button").click()
    WebDriverWait(browser, 20).until(lambda d: "severity=ERROR" in d.current_url)
    table = browser.find_element(By.CSS_SELECTOR, "table.findings")
    assert "A zone has no thermostat" in table.text
    assert "Unmet hours above 300" not in table.text
    assert_accessible(browser, "the run page filtered by severity")


def test_a_viewer_sees_no_way_to_change_anything_and_is_refused(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    org = "RunsPageOrg000000002"
    _org(console_repos, org)
    run_id = "RunsPageViewed000001"
    steps = [_step(0, "fmu", StepStatus.PASSED, metrics={"level_final": 1.0})]
    _run(console_repos, org, run_id, RunStatus.SUCCEEDED, steps, ended_at=CREATED)
    viewer = Member(org_id=org, email=VIEWER, role=Role.VIEWER, added_at=CREATED, added_by="cli")
    console_repos.members.add(viewer)

    sign_in(browser, VIEWER)
    browser.open(f"/orgs/{org}/runs/{run_id}")
    text = browser.text()
    assert "SUCCEEDED" in text and "level_final" in text
    assert "Re-run" not in text and "Cancel run" not in text
    nav = browser.find_element(By.CSS_SELECTOR, "header nav").text
    assert "Runs" in nav and not {"Submit", "Settings", "Audit log"} & set(nav.split("\n"))
    assert browser.find_elements(By.CSS_SELECTOR, "form[method=post]") == []

    for page in ("submit", "settings", "audit"):
        browser.open(f"/orgs/{org}/{page}")
        assert "Forbidden" in browser.text() and "viewer" in browser.text(), page
    screenshot(browser, "forbidden")
    assert_accessible(browser, "the forbidden page")
