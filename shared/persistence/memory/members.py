"""An org's members in memory, keyed by (org, email) as Firestore keys them."""

from __future__ import annotations

from shared.domain.enums import Role
from shared.domain.models import Member
from shared.persistence.memory import reads
from shared.persistence.memory.store import Store, create, delete, fields, update
from shared.persistence.ports import MemberGuard
from shared.platform.errors import AlreadyExists, NotFound
from shared.platform.ids import stable_id

MEMBERS = "members"


def member_id(org_id: str, email: str) -> str:
    return stable_id(org_id, "member", email)


class MemoryMembers:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def add(self, member: Member) -> bool:
        try:
            self._store.commit([create(MEMBERS, member_id(member.org_id, member.email), member)])
        except AlreadyExists:
            return False
        return True

    def get(self, org_id: str, email: str) -> Member | None:
        return reads.find(self._reader, MEMBERS, member_id(org_id, email), Member)

    def all(self, org_id: str) -> list[Member]:
        found = [m for m, _ in self._store.models(MEMBERS, Member) if m.org_id == org_id]
        return [m.model_copy(deep=True) for m in sorted(found, key=lambda m: m.email)]

    def _guarded(self, org_id: str, email: str, guard: MemberGuard | None) -> Member | None:
        """The member, after `guard` passed on it; the caller holds the store's lock."""
        member = self.get(org_id, email)
        if member is not None and guard is not None:
            guard(member, self.all(org_id))
        return member

    def remove(self, org_id: str, email: str, guard: MemberGuard | None = None) -> bool:
        with self._store.lock:
            if self._guarded(org_id, email, guard) is None:
                return False
            self._store.commit([delete(MEMBERS, member_id(org_id, email))])
            return True

    def orgs_of(self, email: str) -> list[str]:
        return sorted(m.org_id for m, _ in self._store.models(MEMBERS, Member) if m.email == email)

    def set_role(
        self, org_id: str, email: str, role: Role, guard: MemberGuard | None = None
    ) -> Member:
        with self._store.lock:
            member = self._guarded(org_id, email, guard)
            if member is None:
                raise NotFound(f"{email!r} is not a member of organization {org_id!r}")
            self._store.commit([update(MEMBERS, member_id(org_id, email), fields(role=role))])
            return member.model_copy(update={"role": role})
