"""The audit log: appended once per id, listed newest first a page at a time, one
org's only, and filtered by action."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import ActorKind, AuditAction
from shared.domain.models import AuditEntry
from shared.platform.errors import BadRequest
from shared.platform.ids import new_id
from tests.contract.builders import at

pytestmark = pytest.mark.contract


def entry(
    org_id: str,
    minutes: float,
    action: AuditAction = AuditAction.WORKFLOW_SAVED,
    entry_id: str | None = None,
    **details: Any,
) -> AuditEntry:
    return AuditEntry(
        id=entry_id or new_id(),
        org_id=org_id,
        at=at(minutes),
        actor="key:k1",
        actor_kind=ActorKind.KEY,
        action=action,
        target="workflow:people",
        route="PUT /v1/orgs/{org}/workflows/{slug}",
        details=details,
    )


def everything(backend: Any, org_id: str, limit: int, **where: Any) -> list[AuditEntry]:
    """Every page, in order, each at most `limit` long."""
    found: list[AuditEntry] = []
    token = None
    while True:
        page = backend.audit.page(org_id, limit=limit, page_token=token, **where)
        assert len(page.items) <= limit
        found += page.items
        token = page.next_page_token
        if token is None:
            return found


def test_an_entry_reads_back_as_appended(backend: Any) -> None:
    written = entry("a", 1, version=3, retention={"submission": "DO_NOT_STORE"})
    assert backend.audit.append(written) is True
    page = backend.audit.page("a")
    assert page.items == [written]
    assert page.next_page_token is None


def test_appending_an_id_again_keeps_the_first_entry(backend: Any) -> None:
    first = entry("a", 1, entry_id="e" * 32, version=1)
    assert backend.audit.append(first) is True
    assert backend.audit.append(entry("a", 2, entry_id="e" * 32, version=2)) is False
    assert backend.audit.page("a").items == [first]


def test_pages_are_newest_first_ties_by_id_descending_and_cover_all_once(backend: Any) -> None:
    entries = [entry("a", minutes) for minutes in (3, 1, 2, 2, 5)]
    for e in entries:
        backend.audit.append(e)
    expected = sorted(entries, key=lambda e: (e.at, e.id), reverse=True)
    assert everything(backend, "a", 2) == expected
    assert everything(backend, "a", 50) == expected


def test_another_orgs_entries_are_not_listed_and_its_token_is_refused(backend: Any) -> None:
    mine, theirs = [entry("a", m) for m in (1, 2)], [entry("b", m) for m in (1, 2, 3)]
    for e in mine + theirs:
        backend.audit.append(e)
    assert {e.id for e in everything(backend, "a", 1)} == {e.id for e in mine}
    token = backend.audit.page("b", limit=1).next_page_token
    assert token is not None
    with pytest.raises(BadRequest):
        backend.audit.page("a", page_token=token)
    with pytest.raises(BadRequest):
        backend.audit.page("a", page_token="not a token")


def test_an_action_filter_lists_that_action_only(backend: Any) -> None:
    saved = [entry("a", m) for m in (1, 3, 5)]
    revoked = [entry("a", m, AuditAction.KEY_REVOKED) for m in (2, 4)]
    for e in saved + revoked:
        backend.audit.append(e)
    found = everything(backend, "a", 1, action=AuditAction.KEY_REVOKED)
    assert [e.id for e in found] == [e.id for e in reversed(revoked)]
    assert backend.audit.page("a", action=AuditAction.MEMBER_ADDED).items == []
