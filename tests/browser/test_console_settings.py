"""Settings and the audit log in a real browser: an admin creates an API key and sees its
secret once, adds a member with the form and is told so; the audit log shows the org's
changes as text. Both pages pass axe-core's check and break no Content-Security-Policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import visibility_of_element_located
from selenium.webdriver.support.ui import Select, WebDriverWait

from shared.domain.enums import AuditAction, Role
from shared.domain.models import ApiKey, Member, Organization
from shared.services import audit
from tests.browser.console import (
    ConsoleDriver,
    assert_accessible,
    console_errors,
    screenshot,
    sign_in,
)

# Fixed ids, names and times: the screenshots stay the same from run to run. Members and
# keys are stored directly (not through the services) so the log holds no time of day.
CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ADMIN = "ada@example.com"
KEYS, MEMBERS = "form[action$='/keys']", "form[action$='/members']"


def _org(repos: Any, org_id: str) -> None:
    repos.orgs.create(Organization(id=org_id, name="Acme", created_at=CREATED))
    for email, role in ((ADMIN, Role.ADMIN), ("vic@example.com", Role.VIEWER)):
        member = Member(org_id=org_id, email=email, role=role, added_at=CREATED, added_by="cli")
        repos.members.add(member)
    key = ApiKey(
        id=f"{org_id[:12]}Key00001"[:20],
        org_id=org_id,
        name="pipeline",
        secret_sha256="0" * 64,
        created_at=CREATED,
        role=Role.SUBMITTER,
    )
    repos.keys.create(key)


def _wait(browser: ConsoleDriver, condition: Any) -> Any:
    return WebDriverWait(browser, 30).until(condition)


def test_an_admin_creates_a_key_and_sees_its_secret_once(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    org = "SettingsOrg000000001"
    _org(console_repos, org)

    sign_in(browser, ADMIN)
    browser.open(f"/orgs/{org}/settings")
    assert console_errors(browser) == []
    screenshot(browser, "settings")
    assert_accessible(browser, "the settings page")

    browser.find_element(By.CSS_SELECTOR, f"{KEYS} input[name=name]").send_keys("nightly")
    Select(browser.find_element(By.CSS_SELECTOR, f"{KEYS} select[name=role]")).select_by_value(
        "viewer"
    )
    browser.find_element(By.CSS_SELECTOR, f"{KEYS} button[type=submit]").click()
    secret = _wait(browser, visibility_of_element_located((By.ID, "new-key"))).text
    assert secret.startswith("assay_")
    assert_accessible(browser, "the settings page with a new key")

    browser.open(f"/orgs/{org}/settings")
    assert secret not in browser.page_source
    assert "nightly" in browser.text()

    browser.find_element(By.CSS_SELECTOR, f"{MEMBERS} input[name=email]").send_keys(
        "bea@example.com"
    )
    browser.find_element(By.CSS_SELECTOR, f"{MEMBERS} button[type=submit]").click()
    notice = _wait(browser, visibility_of_element_located((By.CLASS_NAME, "notice")))
    assert notice.text == "bea@example.com is now a member."
    assert console_repos.members.get(org, "bea@example.com").role is Role.VIEWER


def test_the_audit_log_shows_the_orgs_changes(browser: ConsoleDriver, console_repos: Any) -> None:
    org = "AuditLogOrg000000001"
    _org(console_repos, org)
    by = audit.Actor.member(ADMIN)
    changes = [
        (AuditAction.MEMBER_ADDED, "member:vic@example.com", {"role": "viewer"}),
        (AuditAction.KEY_CREATED, "key:pipeline", {"role": "submitter"}),
        (AuditAction.WORKFLOW_CREATED, "workflow:people", {"version": 1}),
    ]
    for n, (action, target, details) in enumerate(changes):
        at = CREATED + timedelta(minutes=n)
        route = "console: /orgs/<org>/settings"
        audit.record(console_repos, org, by, action, target, route, details, at=at)

    sign_in(browser, ADMIN)
    browser.open(f"/orgs/{org}/audit")
    assert console_errors(browser) == []
    rows = browser.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == [
        "workflow.created",
        "key.created",
        "member.added",
    ]
    screenshot(browser, "audit")
    assert_accessible(browser, "the audit log")
