"""An org's members: keyed by (org, email), listed by email, one winner of a race."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.domain.enums import Role
from shared.domain.models import Member
from shared.platform.errors import NotFound
from tests.contract.builders import T0

pytestmark = pytest.mark.contract

THREADS = 8


def member(org: str, email: str, role: Role = Role.VIEWER, by: str = "cli") -> Member:
    return Member(org_id=org, email=email, role=role, added_at=T0, added_by=by)


def test_a_member_is_added_once_and_read_back_whole(backend: Any) -> None:
    ada = member("a", "ada@example.com", Role.AUTHOR, "key:k1")
    assert backend.members.add(ada) is True
    assert backend.members.add(member("a", "ada@example.com", Role.ADMIN)) is False
    assert backend.members.get("a", "ada@example.com") == ada


def test_members_are_the_orgs_own(backend: Any) -> None:
    backend.members.add(member("a", "ada@example.com", Role.ADMIN))
    assert backend.members.add(member("b", "ada@example.com", Role.VIEWER)) is True
    backend.members.add(member("b", "bob@example.com"))
    assert backend.members.get("a", "bob@example.com") is None
    assert backend.members.get("c", "ada@example.com") is None
    assert [m.email for m in backend.members.all("a")] == ["ada@example.com"]
    assert backend.members.get("a", "ada@example.com").role is Role.ADMIN
    assert backend.members.get("b", "ada@example.com").role is Role.VIEWER
    assert backend.members.all("c") == []


def test_members_are_listed_by_email(backend: Any) -> None:
    emails = ["carol@example.com", "ada@example.com", "bob@example.org", "ab@example.com"]
    for email in emails:
        backend.members.add(member("a", email))
    assert [m.email for m in backend.members.all("a")] == sorted(emails)


def test_a_member_is_removed_once(backend: Any) -> None:
    backend.members.add(member("a", "ada@example.com"))
    backend.members.add(member("b", "ada@example.com"))
    assert backend.members.remove("a", "ada@example.com") is True
    assert backend.members.remove("a", "ada@example.com") is False
    assert backend.members.get("a", "ada@example.com") is None
    assert backend.members.get("b", "ada@example.com") is not None
    assert backend.members.remove("c", "nobody@example.com") is False


def test_orgs_of_a_person_are_those_they_belong_to(backend: Any) -> None:
    for org in ("c", "a", "b"):
        backend.members.add(member(org, "ada@example.com"))
    backend.members.add(member("d", "bob@example.com"))
    assert backend.members.orgs_of("ada@example.com") == ["a", "b", "c"]
    backend.members.remove("b", "ada@example.com")
    assert backend.members.orgs_of("ada@example.com") == ["a", "c"]
    assert backend.members.orgs_of("nobody@example.com") == []


def test_a_role_is_changed_in_place(backend: Any) -> None:
    backend.members.add(member("a", "ada@example.com", Role.VIEWER, "key:k1"))
    changed = backend.members.set_role("a", "ada@example.com", Role.ADMIN)
    assert changed == member("a", "ada@example.com", Role.ADMIN, "key:k1")
    assert backend.members.get("a", "ada@example.com") == changed


def test_a_role_of_a_non_member_is_not_found(backend: Any) -> None:
    backend.members.add(member("b", "ada@example.com"))
    with pytest.raises(NotFound):
        backend.members.set_role("a", "ada@example.com", Role.ADMIN)
    assert backend.members.get("a", "ada@example.com") is None
    assert backend.members.get("b", "ada@example.com").role is Role.VIEWER


def test_one_of_many_concurrent_adds_of_a_person_wins(backend: Any) -> None:
    gate = threading.Barrier(THREADS)
    roles = list(Role)

    def add(i: int) -> bool:
        gate.wait(timeout=30)
        return bool(backend.members.add(member("a", "ada@example.com", roles[i % len(roles)])))

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        added = list(pool.map(add, range(THREADS), timeout=120))
    assert added.count(True) == 1
    winner = roles[added.index(True) % len(roles)]
    assert [(m.email, m.role) for m in backend.members.all("a")] == [("ada@example.com", winner)]


class Refused(Exception):
    pass


def test_a_guard_sees_the_member_and_the_org_and_its_refusal_changes_nothing(
    backend: Any,
) -> None:
    backend.members.add(member("a", "ada@example.com", Role.ADMIN))
    backend.members.add(member("a", "bob@example.com"))
    backend.members.add(member("b", "cy@example.com"))
    seen: list[tuple[str, list[str]]] = []

    def refuse(who: Member, everyone: list[Member]) -> None:
        seen.append((who.email, sorted(m.email for m in everyone)))
        raise Refused

    with pytest.raises(Refused):
        backend.members.remove("a", "ada@example.com", guard=refuse)
    with pytest.raises(Refused):
        backend.members.set_role("a", "ada@example.com", Role.VIEWER, guard=refuse)
    assert seen[-1] == ("ada@example.com", ["ada@example.com", "bob@example.com"])
    assert backend.members.get("a", "ada@example.com").role is Role.ADMIN
    # A guard that passes lets the change through; a non-member never reaches it.
    assert backend.members.remove("a", "bob@example.com", guard=lambda m, e: None) is True
    assert backend.members.remove("a", "nobody@example.com", guard=refuse) is False
