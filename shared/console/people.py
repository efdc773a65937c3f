"""Who is at the browser and what they may do in an org: the person IAP signed in, and
their membership. A person who is not a member of an org is told it does not exist
(404), as a key of another org is; a member whose role is too low is told which role
the action needs (403)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from flask import Request

from shared.api.auth.iap import Person, person_from_headers
from shared.domain.enums import Role
from shared.domain.models import Member
from shared.persistence.ports import Repositories
from shared.platform.errors import Forbidden, NotFound

__all__ = ["Person", "member_of", "require_role", "signed_in"]


def signed_in(request: Request) -> Person:
    """The person of a request that came through IAP (its signed assertion only)."""
    return person_from_headers(cast(Mapping[str, str], request.headers))


def member_of(repos: Repositories, person: Person, org_id: str) -> Member:
    member = repos.members.get(org_id, person.email)
    if member is None:
        raise NotFound(f"organization {org_id[:64]!r} does not exist or you are not a member")
    return member


def require_role(member: Member, needed: Role, action: str) -> None:
    if not member.role.allows(needed):
        raise Forbidden(
            f"{action} needs the role {needed.value!r} or above in {member.org_id!r}; "
            f"yours is {member.role.value!r}. An admin of the org can change it."
        )
