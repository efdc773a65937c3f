"""An org's members: Google identities, each with a role (the same roles as keys),
added, listed, re-roled and removed (decision record 0068).

An org that has an admin among its members keeps one: removing or demoting its last
admin member is refused (409) while anyone else remains a member, so the people in an
org are never left with nobody to manage them. The check runs inside the change's own
transaction (the repository's `guard`), so two concurrent removals of the last two
admins cannot both pass it.

Each change is recorded in the audit log (record 0069) as made by `by` (who, and through
which route): an operator at the command line unless the caller says otherwise.
"""

from __future__ import annotations

from shared.domain.enums import AuditAction, Role
from shared.domain.models import Member, normal_email
from shared.persistence.ports import MemberGuard, Repositories
from shared.platform.clock import Clock, utcnow
from shared.platform.errors import AlreadyExists, Conflict, NotFound, Unprocessable
from shared.services import audit, orgs


def _email(raw: str) -> str:
    try:
        return normal_email(raw)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None


def _not_a_member(org_id: str, email: str) -> NotFound:
    return NotFound(f"{email!r} is not a member of organization {org_id!r}")


def _keeps_an_admin(leaves: bool) -> MemberGuard:
    """The guard: Conflict when the member is the org's last admin and the change would
    leave the other members (or, for a demotion, the member itself) without one."""

    def guard(member: Member, everyone: list[Member]) -> None:
        if member.role is not Role.ADMIN:
            return
        others = [m for m in everyone if m.email != member.email]
        if any(m.role is Role.ADMIN for m in others) or (leaves and not others):
            return
        raise Conflict(
            f"{member.email!r} is the last admin member of organization {member.org_id!r}; "
            "make another member an admin first"
        )

    return guard


def _recorded(
    repos: Repositories,
    member: Member,
    action: AuditAction,
    by: audit.By,
    details: dict[str, str],
) -> None:
    target = f"member:{member.email}"
    audit.record(repos, member.org_id, by.actor, action, target, by.route, details)


def add_member(
    repos: Repositories,
    org_id: str,
    email: str,
    role: Role,
    now: Clock = utcnow,
    *,
    by: audit.By | None = None,
) -> Member:
    """The new member, added by `by` (its `added_by`); AlreadyExists (409) when the
    person already is one, whatever their role (a role is changed with `change_role`)."""
    orgs.require(repos, org_id)
    by = by or audit.By.operator("cli: assay admin members add")
    member = Member(
        org_id=org_id, email=_email(email), role=role, added_at=now(), added_by=by.actor.name
    )
    if not repos.members.add(member):
        current = repos.members.get(org_id, member.email)
        held = f" with role {current.role.value!r}" if current else ""
        raise AlreadyExists(
            f"{member.email!r} already is a member of organization {org_id!r}{held}"
        )
    _recorded(repos, member, AuditAction.MEMBER_ADDED, by, {"role": role.value})
    return member


def list_members(repos: Repositories, org_id: str) -> list[Member]:
    """By email."""
    orgs.require(repos, org_id)
    return repos.members.all(org_id)


def remove_member(
    repos: Repositories,
    org_id: str,
    email: str,
    *,
    by: audit.By | None = None,
) -> bool:
    """False when the person was not a member; Conflict for the last admin while
    others remain."""
    orgs.require(repos, org_id)
    member = repos.members.get(org_id, _email(email))
    if member is None:
        return False
    if not repos.members.remove(org_id, member.email, guard=_keeps_an_admin(leaves=True)):
        return False  # a concurrent removal won, and records it
    by = by or audit.By.operator("cli: assay admin members remove")
    details = {"role": member.role.value}
    _recorded(repos, member, AuditAction.MEMBER_REMOVED, by, details)
    return True


def change_role(
    repos: Repositories,
    org_id: str,
    email: str,
    role: Role,
    *,
    by: audit.By | None = None,
) -> Member:
    """The member with `role`; NotFound for a non-member, Conflict for demoting the
    last admin member. Giving a member the role it has changes (and records) nothing."""
    orgs.require(repos, org_id)
    member = repos.members.get(org_id, _email(email))
    if member is None:
        raise _not_a_member(org_id, _email(email))
    if member.role is role:
        return member
    guard = _keeps_an_admin(leaves=False) if role is not Role.ADMIN else None
    changed = repos.members.set_role(org_id, member.email, role, guard=guard)
    details = {"role": role.value, "previous_role": member.role.value}
    by = by or audit.By.operator("cli: assay admin members set-role")
    _recorded(repos, changed, AuditAction.MEMBER_ROLE_CHANGED, by, details)
    return changed
