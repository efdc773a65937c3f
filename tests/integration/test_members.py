"""An org's members (issue 22, item 2): the service's rules and `assay admin members`,
through the `repos` fixture (the emulator, or the memory twin with
--repositories=memory)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from shared.domain.enums import Role
from shared.platform.errors import AlreadyExists, Conflict, NotFound, Unprocessable
from shared.services import audit, members
from tests.factories import make_org

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["admin", "members", *args], catch_exceptions=False)


def _roles(repos: Any, org: str) -> dict[str, Role]:
    return {m.email: m.role for m in members.list_members(repos, org)}


def _logged(repos: Any, org: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The org's member changes in the audit log, by target, then action."""
    page = repos.audit.page(org, limit=100)
    changes = [e for e in page.items if e.action.value.startswith("member.")]
    assert all(e.route.startswith("cli: assay admin members ") for e in changes)
    found = [(e.target, e.action.value, e.actor, e.details) for e in changes]
    return sorted(found, key=lambda f: (f[0], f[1]))


def test_a_member_is_added_normalised_listed_and_removed(repos: Any) -> None:
    org, _ = make_org(repos)
    by = audit.By(audit.Actor.key("k1"), "cli: assay admin members add")
    added = members.add_member(repos, org, "  Ada@Example.COM ", Role.AUTHOR, lambda: T0, by=by)
    assert (added.email, added.role, added.added_by, added.added_at) == (
        "ada@example.com",
        Role.AUTHOR,
        "key:k1",
        T0,
    )
    members.add_member(repos, org, "bob@example.com", Role.VIEWER)
    assert [m.email for m in members.list_members(repos, org)] == [
        "ada@example.com",
        "bob@example.com",
    ]
    assert repos.members.orgs_of("ada@example.com") == [org]
    assert members.remove_member(repos, org, "ADA@example.com") is True
    assert members.remove_member(repos, org, "ada@example.com") is False
    assert _roles(repos, org) == {"bob@example.com": Role.VIEWER}
    assert [(target, action, actor) for target, action, actor, _ in _logged(repos, org)] == [
        ("member:ada@example.com", "member.added", "key:k1"),
        ("member:ada@example.com", "member.removed", audit.Actor.operator().name),
        ("member:bob@example.com", "member.added", audit.Actor.operator().name),
    ]


def test_a_second_add_of_a_person_is_refused_and_changes_nothing(repos: Any) -> None:
    org, _ = make_org(repos)
    members.add_member(repos, org, "ada@example.com", Role.VIEWER)
    with pytest.raises(AlreadyExists, match="with role 'viewer'"):
        members.add_member(repos, org, "Ada@example.com", Role.ADMIN)
    assert _roles(repos, org) == {"ada@example.com": Role.VIEWER}
    members.change_role(repos, org, "ada@example.com", Role.VIEWER)  # as it is
    assert [action for _, action, _, _ in _logged(repos, org)] == ["member.added"]


@pytest.mark.parametrize("email", ["ada", "ada@", "@example.com", "a b@example.com", ""])
def test_an_address_that_is_not_an_email_is_refused(repos: Any, email: str) -> None:
    org, _ = make_org(repos)
    with pytest.raises(Unprocessable, match="not an email address"):
        members.add_member(repos, org, email, Role.VIEWER)
    assert members.list_members(repos, org) == []


def test_an_unknown_org_is_not_found_for_every_operation(repos: Any) -> None:
    calls = [
        lambda: members.add_member(repos, "nope", "ada@example.com", Role.ADMIN),
        lambda: members.list_members(repos, "nope"),
        lambda: members.remove_member(repos, "nope", "ada@example.com"),
        lambda: members.change_role(repos, "nope", "ada@example.com", Role.ADMIN),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="organization 'nope' does not exist"):
            call()
    assert repos.members.orgs_of("ada@example.com") == []


def test_another_orgs_member_is_not_one_here(repos: Any) -> None:
    org, _ = make_org(repos)
    other, _ = make_org(repos, "other")
    members.add_member(repos, other, "ada@example.com", Role.ADMIN)
    assert members.list_members(repos, org) == []
    assert members.remove_member(repos, org, "ada@example.com") is False
    with pytest.raises(NotFound, match="not a member"):
        members.change_role(repos, org, "ada@example.com", Role.VIEWER)
    assert _roles(repos, other) == {"ada@example.com": Role.ADMIN}


def test_the_last_admin_member_stays_while_others_remain(repos: Any) -> None:
    org, _ = make_org(repos)
    members.add_member(repos, org, "ada@example.com", Role.ADMIN)
    members.add_member(repos, org, "bob@example.com", Role.AUTHOR)
    with pytest.raises(Conflict, match="last admin member") as refused:
        members.remove_member(repos, org, "ada@example.com")
    assert refused.value.status == 409
    with pytest.raises(Conflict, match="make another member an admin first"):
        members.change_role(repos, org, "ada@example.com", Role.AUTHOR)
    assert _roles(repos, org)["ada@example.com"] is Role.ADMIN
    assert {action for _, action, _, _ in _logged(repos, org)} == {"member.added"}

    members.change_role(repos, org, "bob@example.com", Role.ADMIN)
    assert members.change_role(repos, org, "ada@example.com", Role.VIEWER).role is Role.VIEWER
    assert members.remove_member(repos, org, "ada@example.com") is True
    with pytest.raises(Conflict):
        members.change_role(repos, org, "bob@example.com", Role.SUBMITTER)
    assert members.remove_member(repos, org, "bob@example.com") is True  # the only member
    assert members.list_members(repos, org) == []


def _leave(repos: Any, org: str, start: Any, email: str, how: str) -> str:
    """`email` stops being an admin (removed or demoted) once both threads are ready."""
    start.wait()
    try:
        if how == "remove":
            members.remove_member(repos, org, email)
        else:
            members.change_role(repos, org, email, Role.VIEWER)
    except Conflict:
        return "refused"
    return "done"


@pytest.mark.parametrize("second", ["remove", "demote"])
def test_two_admins_leaving_at_once_leave_one_admin(repos: Any, second: str) -> None:
    """The last-admin check runs in the change's own transaction: of two concurrent
    changes that would each leave the other as the only admin, one is refused."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    for attempt in range(5):
        org, _ = make_org(repos, f"race-{attempt}")
        members.add_member(repos, org, "ada@example.com", Role.ADMIN)
        members.add_member(repos, org, "bob@example.com", Role.ADMIN)
        members.add_member(repos, org, "cy@example.com", Role.VIEWER)
        start = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(_leave, repos, org, start, "ada@example.com", "remove")
            other = pool.submit(_leave, repos, org, start, "bob@example.com", second)
            outcomes = sorted([first.result(), other.result()])
        assert outcomes == ["done", "refused"]
        admins = [e for e, role in _roles(repos, org).items() if role is Role.ADMIN]
        assert len(admins) == 1, _roles(repos, org)


def test_members_without_an_admin_may_come_and_go(repos: Any) -> None:
    org, _ = make_org(repos)
    members.add_member(repos, org, "ada@example.com", Role.VIEWER)
    members.add_member(repos, org, "bob@example.com", Role.SUBMITTER)
    assert members.change_role(repos, org, "ada@example.com", Role.AUTHOR).role is Role.AUTHOR
    assert members.remove_member(repos, org, "ada@example.com") is True
    assert _roles(repos, org) == {"bob@example.com": Role.SUBMITTER}


def test_the_cli_adds_lists_changes_and_removes_members(repos: Any) -> None:
    org, _ = make_org(repos)
    made = _cli("add", "--org", org, "--email", "Ada@Example.com", "--role", "Admin", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["member"] | {"added_at": None} == {
        "org_id": org,
        "email": "ada@example.com",
        "role": "admin",
        "added_at": None,
        "added_by": audit.Actor.operator().name,
    }
    viewer = _cli("add", "--org", org, "--email", "bob@example.com")
    assert viewer.exit_code == 0 and "role viewer" in viewer.output

    listed = json.loads(_cli("list", "--org", org, "--json").output)["members"]
    assert [(v["email"], v["role"]) for v in listed] == [
        ("ada@example.com", "admin"),
        ("bob@example.com", "viewer"),
    ]
    table = _cli("list", "--org", org).output
    assert "bob@example.com" in table and "viewer" in table

    changed = _cli("set-role", "--org", org, "--email", "bob@example.com", "--role", "author")
    assert changed.exit_code == 0 and "now has role author" in changed.output
    gone = json.loads(_cli("remove", "--org", org, "--email", "BOB@example.com", "--json").output)
    assert gone == {"org_id": org, "email": "bob@example.com", "removed": True}
    assert _roles(repos, org) == {"ada@example.com": Role.ADMIN}
    operator = audit.Actor.operator().name
    assert _logged(repos, org) == [
        ("member:ada@example.com", "member.added", operator, {"role": "admin"}),
        ("member:bob@example.com", "member.added", operator, {"role": "viewer"}),
        ("member:bob@example.com", "member.removed", operator, {"role": "author"}),
        (
            "member:bob@example.com",
            "member.role_changed",
            operator,
            {"role": "author", "previous_role": "viewer"},
        ),
    ]


def test_the_cli_says_why_it_refuses(repos: Any) -> None:
    org, _ = make_org(repos)
    _cli("add", "--org", org, "--email", "ada@example.com", "--role", "admin")
    _cli("add", "--org", org, "--email", "bob@example.com")

    last = _cli("remove", "--org", org, "--email", "ada@example.com", "--json")
    assert last.exit_code == 2
    assert "last admin member" in json.loads(last.output)["error"]
    again = _cli("add", "--org", org, "--email", "ada@example.com", "--json")
    assert again.exit_code == 2 and "already is a member" in json.loads(again.output)["error"]
    unknown = _cli("list", "--org", "nope", "--json")
    assert unknown.exit_code == 2 and "does not exist" in json.loads(unknown.output)["error"]
    bad = _cli("add", "--org", org, "--email", "carol@example.com", "--role", "owner")
    assert bad.exit_code == 2 and "'owner' is not a role" in bad.output
    not_email = _cli("add", "--org", org, "--email", "carol", "--json")
    assert not_email.exit_code == 2 and "not an email" in json.loads(not_email.output)["error"]
    assert _roles(repos, org) == {"ada@example.com": Role.ADMIN, "bob@example.com": Role.VIEWER}
