"""An org's members in Firestore (`members`): one document per (org, email), its id
derived from both, so two concurrent adds of one person collide on create."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.enums import Role
from shared.domain.models import Member
from shared.persistence.firestore.documents import MEMBERS, Collections, to_doc, transactional
from shared.persistence.ports import MemberGuard
from shared.platform.errors import NotFound
from shared.platform.ids import stable_id


def member_id(org_id: str, email: str) -> str:
    return stable_id(org_id, "member", email)


class FirestoreMembers(Collections):
    def _ref(self, org_id: str, email: str) -> Any:
        return self.db.collection(MEMBERS).document(member_id(org_id, email))

    def add(self, member: Member) -> bool:
        try:
            self._ref(member.org_id, member.email).create(to_doc(member))
        except gexc.Conflict:
            return False
        return True

    def get(self, org_id: str, email: str) -> Member | None:
        snap = self._ref(org_id, email).get()
        return Member.model_validate(snap.to_dict()) if snap.exists else None

    def all(self, org_id: str) -> list[Member]:
        query = self.db.collection(MEMBERS).where(filter=FieldFilter("org_id", "==", org_id))
        found = [Member.model_validate(snap.to_dict()) for snap in query.stream()]
        return sorted(found, key=lambda m: m.email)

    def _everyone(self, transaction: Any, org_id: str) -> list[Member]:
        query = self.db.collection(MEMBERS).where(filter=FieldFilter("org_id", "==", org_id))
        return [Member.model_validate(snap.to_dict()) for snap in transaction.get(query)]

    def _guarded(
        self, transaction: Any, org_id: str, email: str, guard: MemberGuard | None
    ) -> Member | None:
        """The member as the transaction reads it, after `guard` passed on it."""
        snap = self._ref(org_id, email).get(transaction=transaction)
        if not snap.exists:
            return None
        member = Member.model_validate(snap.to_dict())
        if guard is not None:
            guard(member, self._everyone(transaction, org_id))
        return member

    def remove(self, org_id: str, email: str, guard: MemberGuard | None = None) -> bool:
        def remove(transaction: Any) -> bool:
            if self._guarded(transaction, org_id, email, guard) is None:
                return False
            transaction.delete(self._ref(org_id, email))
            return True

        return transactional(self.db, remove)

    def orgs_of(self, email: str) -> list[str]:
        query = self.db.collection(MEMBERS).where(filter=FieldFilter("email", "==", email))
        return sorted(str(snap.get("org_id")) for snap in query.stream())

    def set_role(
        self, org_id: str, email: str, role: Role, guard: MemberGuard | None = None
    ) -> Member:
        def change(transaction: Any) -> Member:
            member = self._guarded(transaction, org_id, email, guard)
            if member is None:
                raise NotFound(f"{email!r} is not a member of organization {org_id!r}")
            transaction.update(self._ref(org_id, email), {"role": role.value})
            return member.model_copy(update={"role": role})

        return transactional(self.db, change)
