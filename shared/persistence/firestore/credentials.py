"""Runs' credentials (`credentials`, one document per run, keyed by the run's id) and
every key that signed one (`signing_keys`, keyed by a digest of its kid). Each is
created once and never changed or purged (decision record 0086)."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from google.api_core import exceptions as gexc

from shared.domain.credentials import IssuedCredential, SigningKey
from shared.persistence.firestore.documents import Collections

CREDENTIALS = "credentials"
SIGNING_KEYS = "signing_keys"


def _key_doc_id(kid: str) -> str:
    # A kid is the signer's label, any string: a digest is always a valid document id.
    return hashlib.sha256(kid.encode()).hexdigest()


class FirestoreCredentials(Collections):
    def _ref(self, run_id: str) -> Any:
        return self.db.collection(CREDENTIALS).document(run_id)

    def find(self, org_id: str, run_id: str) -> IssuedCredential | None:
        if not run_id or "/" in run_id:
            return None
        snap = self._ref(run_id).get()
        if not snap.exists or snap.get("org_id") != org_id:
            return None
        return IssuedCredential.model_validate(snap.to_dict())

    def keep(self, credential: IssuedCredential) -> IssuedCredential:
        # A concurrent first request may have stored its own: that one stands.
        with contextlib.suppress(gexc.Conflict):
            self._ref(credential.run_id).create(credential.model_dump(mode="python"))
        stored = self.find(credential.org_id, credential.run_id)
        assert stored is not None
        return stored


class FirestoreSigningKeys(Collections):
    def all(self) -> list[SigningKey]:
        keys = [
            SigningKey.model_validate(s.to_dict())
            for s in self.db.collection(SIGNING_KEYS).stream()
        ]
        return sorted(keys, key=lambda k: (k.first_used_at, k.kid))

    def keep(self, key: SigningKey) -> None:
        ref = self.db.collection(SIGNING_KEYS).document(_key_doc_id(key.kid))
        with contextlib.suppress(gexc.Conflict):
            ref.create(key.model_dump(mode="python"))
