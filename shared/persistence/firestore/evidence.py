"""Evidence manifests: one document per run in `evidence`, keyed by the run's id,
created in the transaction that ends the run and never changed. The manifest is kept as
its canonical text (RFC 8785), so what is served hashes to what was written; no purge
touches this collection (decision record 0085)."""

from __future__ import annotations

from typing import Any

from shared.domain.evidence import Manifest, canonical, digest
from shared.persistence.firestore.documents import Collections

EVIDENCE = "evidence"


def manifest_doc(manifest: Manifest) -> dict[str, Any]:
    return {
        "org_id": manifest.org_id,
        "run_id": manifest.run_id,
        "manifest": canonical(manifest).decode(),
        "sha256": digest(manifest),
    }


def record(db: Any, transaction: Any, manifest: Manifest) -> None:
    """Creates the run's manifest in `transaction` (the commit fails if it has one)."""
    transaction.create(db.collection(EVIDENCE).document(manifest.run_id), manifest_doc(manifest))


class FirestoreEvidence(Collections):
    def find(self, org_id: str, run_id: str) -> Manifest | None:
        if not run_id or "/" in run_id:
            return None
        snap = self.db.collection(EVIDENCE).document(run_id).get()
        if not snap.exists or snap.get("org_id") != org_id:
            return None
        return Manifest.model_validate_json(snap.get("manifest"))
