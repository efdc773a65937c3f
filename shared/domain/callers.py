"""Who acts on an org's behalf: an API key, or a member signed in to the console. The
services need only this of either: the org, the role, and an id that names the actor
on what it leaves behind (a submission's `api_key_id`: a key's id, or `member:<email>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.enums import Role

MEMBER_PREFIX = "member:"


class Caller(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def org_id(self) -> str: ...
    @property
    def role(self) -> Role: ...


@dataclass(frozen=True)
class MemberCaller:
    """A member acting through the console, with their role in that org."""

    org_id: str
    email: str
    role: Role

    @property
    def id(self) -> str:
        return f"{MEMBER_PREFIX}{self.email}"


def member_email(caller_id: str) -> str | None:
    """The email of a `member:` id; None for a key's id."""
    return caller_id[len(MEMBER_PREFIX) :] if caller_id.startswith(MEMBER_PREFIX) else None
