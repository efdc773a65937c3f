"""The console's audit log page: the org's entries newest first, who, when, what, route
and details as text; filtered by action, paged; for admins only, and only their org's."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from shared.domain.enums import AuditAction
from shared.services import audit
from tests.factories import make_org
from tests.integration.console_harness import (
    ADMIN,
    AUTHOR,
    STRANGER,
    SUBMITTER,
    VIEWER,
    ConsoleHarness,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def path(console: ConsoleHarness, query: str = "") -> str:
    return f"/orgs/{console.org}/audit{query}"


def text(answer: object) -> str:
    return html.unescape(answer.get_data(as_text=True))  # type: ignore[attr-defined]


def test_entries_show_who_when_what_route_and_details_newest_first(
    console: ConsoleHarness,
) -> None:
    actor = audit.Actor.member("ada@example.com")
    older = audit.record(
        console.repos, console.org, actor, AuditAction.RUN_CANCELLED, "run:r1", "console: x", at=T0
    )
    newer = audit.record(
        console.repos,
        console.org,
        actor,
        AuditAction.WORKFLOW_SAVED,
        "workflow:<b>bold</b>",
        "PUT /v1/orgs/{org}/workflows/{slug}",
        {"version": 2, "note": "<script>alert(1)</script>"},
        at=T0 + timedelta(minutes=1),
    )
    answer = console.get(path(console), email=ADMIN)
    assert answer.status_code == 200
    raw = answer.get_data(as_text=True)
    assert "<script>alert" not in raw and "<b>bold" not in raw
    shown = text(answer)
    assert shown.index(newer.target) < shown.index(older.target)
    assert "2026-01-02 03:05:05 UTC" in shown and "member:ada@example.com" in shown
    assert "PUT /v1/orgs/{org}/workflows/{slug}" in shown and "workflow.saved" in shown
    assert "note=<script>alert(1)</script>, version=2" in shown


def test_the_action_filter_and_paging(console: ConsoleHarness) -> None:
    actor = audit.Actor.operator("ops")
    for n in range(55):
        at = T0 + timedelta(seconds=n)
        audit.record(
            console.repos, console.org, actor, AuditAction.RUN_RERUN, f"run:r{n:02}", "cli", at=at
        )
    audit.record(console.repos, console.org, actor, AuditAction.RUN_CANCELLED, "run:c", "cli")
    first = text(console.get(path(console, "?action=run.rerun"), email=ADMIN))
    assert "run:r54" in first and "run:r05" in first and "run:r04" not in first
    assert "run:c" not in first
    (older,) = [line for line in first.splitlines() if "Older entries" in line]
    next_page = older.split('href="')[1].split('"')[0]
    assert "action=run.rerun" in next_page
    second = text(console.get(next_page, email=ADMIN))
    assert "run:r04" in second and "run:r00" in second and "run:r05" not in second
    assert "Older entries" not in second
    cancelled = text(console.get(path(console, "?action=run.cancelled"), email=ADMIN))
    assert "run:c" in cancelled and "run:r" not in cancelled


def test_an_unknown_action_is_a_clear_400(console: ConsoleHarness) -> None:
    answer = console.get(path(console, "?action=run.exploded"), email=ADMIN)
    assert answer.status_code == 400
    assert "action must be one of" in text(answer)


def test_only_the_orgs_own_entries_are_shown(console: ConsoleHarness) -> None:
    other, _ = make_org(console.repos, "other")
    actor = audit.Actor.operator("ops")
    audit.record(console.repos, other, actor, AuditAction.RUN_RERUN, "run:elsewhere", "cli")
    assert "run:elsewhere" not in text(console.get(path(console), email=ADMIN))


def test_members_below_admin_get_403_and_strangers_404(console: ConsoleHarness) -> None:
    for email in (VIEWER, SUBMITTER, AUTHOR):
        answer = console.get(path(console), email=email)
        assert answer.status_code == 403, email
        assert "needs the role 'admin'" in text(answer)
    assert console.get(path(console), email=STRANGER).status_code == 404


def test_the_settings_changes_appear_in_the_log(console: ConsoleHarness) -> None:
    form = {"email": "ada@example.com", "role": "viewer"}
    console.post(f"/orgs/{console.org}/settings/members", email=ADMIN, data=form)
    shown = text(console.get(path(console, "?action=member.added"), email=ADMIN))
    assert f"member:{ADMIN}" in shown and "member:ada@example.com" in shown
    assert "console: /orgs/<org>/settings/members" in shown
