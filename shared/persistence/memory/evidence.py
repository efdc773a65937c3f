"""Evidence manifests in memory: one per run, created with the run's end and never
changed, kept as the canonical text Firestore keeps."""

from __future__ import annotations

from shared.domain.evidence import Manifest, canonical
from shared.domain.models import Model
from shared.persistence.memory.store import Store, Write, create

# As shared/persistence/firestore/documents.py names it.
EVIDENCE = "evidence"


class StoredManifest(Model):
    run_id: str
    org_id: str
    manifest: str  # its canonical form (RFC 8785), as written


def record(manifest: Manifest) -> Write:
    """The write that creates a run's manifest (AlreadyExists when it has one)."""
    stored = StoredManifest(
        run_id=manifest.run_id, org_id=manifest.org_id, manifest=canonical(manifest).decode()
    )
    return create(EVIDENCE, manifest.run_id, stored)


class MemoryEvidence:
    def __init__(self, store: Store) -> None:
        self._store = store

    def find(self, org_id: str, run_id: str) -> Manifest | None:
        found = self._store.get(EVIDENCE, run_id)
        if found is None:
            return None
        assert isinstance(found.model, StoredManifest)
        if found.model.org_id != org_id:
            return None
        return Manifest.model_validate_json(found.model.manifest)
