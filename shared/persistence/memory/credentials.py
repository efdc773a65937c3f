"""Runs' credentials and the keys that signed them, in memory (as Firestore keeps
them: a credential by its run, a key by its kid, each created once)."""

from __future__ import annotations

import contextlib

from shared.domain.credentials import IssuedCredential, SigningKey
from shared.persistence.memory.store import Store, create
from shared.platform.errors import AlreadyExists

# As shared/persistence/firestore/credentials.py names them.
CREDENTIALS = "credentials"
SIGNING_KEYS = "signing_keys"


class MemoryCredentials:
    def __init__(self, store: Store) -> None:
        self._store = store

    def find(self, org_id: str, run_id: str) -> IssuedCredential | None:
        found = self._store.get(CREDENTIALS, run_id)
        if found is None:
            return None
        assert isinstance(found.model, IssuedCredential)
        return found.model.model_copy() if found.model.org_id == org_id else None

    def keep(self, credential: IssuedCredential) -> IssuedCredential:
        with contextlib.suppress(AlreadyExists):
            self._store.commit([create(CREDENTIALS, credential.run_id, credential)])
        stored = self.find(credential.org_id, credential.run_id)
        assert stored is not None
        return stored


class MemorySigningKeys:
    def __init__(self, store: Store) -> None:
        self._store = store

    def all(self) -> list[SigningKey]:
        keys = [s.model for _, s in self._store.scan(SIGNING_KEYS)]
        found = [k.model_copy(deep=True) for k in keys if isinstance(k, SigningKey)]
        return sorted(found, key=lambda k: (k.first_used_at, k.kid))

    def keep(self, key: SigningKey) -> None:
        with contextlib.suppress(AlreadyExists):
            self._store.commit([create(SIGNING_KEYS, key.kid, key)])
