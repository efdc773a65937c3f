"""Signing in to the console through the IAP stand-in: a member lands on `/`, which lists
the orgs they belong to as links; a person who belongs to none sees none, and another
org's page is a 404 for them, as for an org that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.enums import Role
from shared.domain.models import Organization
from shared.services.members import add_member
from tests.browser.console import (
    ConsoleDriver,
    assert_accessible,
    console_errors,
    screenshot,
    sign_in,
)

# Fixed ids and names: the screenshots in docs/console/ stay the same from run to run.
# Each test has its own, since one stack serves every browser test of a worker.
CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _org(repos: Any, org_id: str, name: str, members: dict[str, Role]) -> None:
    repos.orgs.create(Organization(id=org_id, name=name, created_at=CREATED))
    for email, role in members.items():
        add_member(repos, org_id, email, role, now=lambda: CREATED)


def _org_links(driver: ConsoleDriver) -> dict[str, str]:
    return {a.text.strip(): a.get_attribute("href") or "" for a in driver.links()}


def test_a_member_lands_on_the_orgs_they_belong_to(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    _org(console_repos, "SignInAcmeOrg0000001", "Acme", {"ada@example.com": Role.ADMIN})
    _org(console_repos, "SignInBetaOrg0000002", "Beta", {"ada@example.com": Role.VIEWER})
    _org(console_repos, "SignInOtherOrg000003", "Other", {"bob@example.com": Role.ADMIN})

    sign_in(browser, "ada@example.com")

    assert browser.path == "/"
    links = _org_links(browser)
    for org_id in ("SignInAcmeOrg0000001", "SignInBetaOrg0000002"):
        assert org_id in links, f"/ does not link {org_id}: {sorted(links)}"
        assert f"/orgs/{org_id}" in links[org_id]
    assert "SignInOtherOrg000003" not in browser.page_source
    assert "ada@example.com" in browser.text()
    assert console_errors(browser) == []
    screenshot(browser, "orgs")
    assert_accessible(browser, "the org picker")


def test_a_person_in_no_org_sees_none(browser: ConsoleDriver, console_repos: Any) -> None:
    _org(console_repos, "SignInLonelyOrg00004", "Lonely", {"carol@example.com": Role.ADMIN})

    sign_in(browser, "dave@example.com")

    assert browser.path == "/"
    assert "SignInLonelyOrg00004" not in browser.page_source
    assert not [a for a in browser.links() if "/orgs/" in (a.get_attribute("href") or "")]
    assert console_errors(browser) == []
    screenshot(browser, "no-orgs")
    assert_accessible(browser, "the org picker without orgs")


def test_another_orgs_page_is_not_found(browser: ConsoleDriver, console_repos: Any) -> None:
    _org(console_repos, "SignInHiddenOrg00005", "Secret Labs", {"erin@example.com": Role.ADMIN})

    sign_in(browser, "frank@example.com")
    browser.open("/orgs/SignInHiddenOrg00005")

    text = browser.text()
    assert "does not exist or you are not a member" in text, text
    assert "Secret Labs" not in text
    screenshot(browser, "not-found")
    assert_accessible(browser, "the not-found page")


def test_signing_in_as_nobody_is_refused(browser: ConsoleDriver) -> None:
    browser.open("/")

    # The IAP stand-in answers 401 with a page that says how to sign in.
    assert "/_dev/sign-in" in browser.page_source
    assert_accessible(browser, "the stand-in's sign-in prompt")


def test_the_page_runs_its_own_script_and_refuses_an_inline_one(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    _org(console_repos, "SignInScriptOrg00006", "Scripts", {"grace@example.com": Role.VIEWER})
    sign_in(browser, "grace@example.com")

    # /assets/console.js ran: it hands scripts the page's CSRF token.
    token = browser.execute_script("return window.assay && window.assay.csrf()")
    assert isinstance(token, str) and len(token) >= 32
    assert console_errors(browser) == []

    # A script the page did not ship (as an injection would add) is refused by the CSP.
    ran = browser.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.injected = true';"
        "document.body.appendChild(s);"
        "return window.injected === true;"
    )
    assert ran is False
    refused = console_errors(browser)
    assert any("Content Security Policy" in message for message in refused), refused
