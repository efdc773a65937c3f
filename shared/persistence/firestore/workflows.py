"""Workflows and their immutable versions (`workflows/{id}/versions/{n}`), and the
resource files a workflow's steps may name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import Workflow, WorkflowResource, WorkflowVersion
from shared.persistence.firestore.documents import (
    RESOURCES,
    VERSIONS,
    WORKFLOWS,
    Collections,
    from_snapshot,
    to_doc,
)
from shared.platform.errors import NotFound
from shared.platform.ids import stable_id


def version_ref(db: Any, workflow_id: str, version: int) -> Any:
    return (
        db.collection(WORKFLOWS).document(workflow_id).collection(VERSIONS).document(str(version))
    )


class FirestoreWorkflows(Collections):
    @staticmethod
    def id_for(org_id: str, slug: str) -> str:
        """Derived from (org, slug): two concurrent creates of one slug collide on commit,
        which a query cannot guarantee (Firestore does not lock a document's absence)."""
        return stable_id(org_id, "workflow", slug, length=20)

    def find(self, org_id: str, slug: str, transaction: Any = None) -> Workflow | None:
        ref = self.db.collection(WORKFLOWS).document(self.id_for(org_id, slug))
        snap = ref.get(transaction=transaction)
        if not snap.exists or snap.get("org_id") != org_id:
            return None
        return from_snapshot(Workflow, snap)

    def get(self, org_id: str, slug: str) -> Workflow:
        workflow = self.find(org_id, slug)
        if workflow is None:
            raise NotFound(f"workflow {slug!r} does not exist in organization {org_id!r}")
        return workflow

    def all(self, org_id: str) -> list[Workflow]:
        query = self.db.collection(WORKFLOWS).where(filter=FieldFilter("org_id", "==", org_id))
        return sorted((from_snapshot(Workflow, s) for s in query.stream()), key=lambda w: w.slug)

    def version(
        self, workflow: Workflow, number: int | None = None, transaction: Any = None
    ) -> WorkflowVersion:
        wanted = workflow.latest_version if number is None else number
        snap = version_ref(self.db, workflow.id, wanted).get(transaction=transaction)
        if not snap.exists:
            raise NotFound(f"workflow {workflow.slug!r} has no version {wanted}")
        return from_snapshot(WorkflowVersion, snap)

    def latest_versions(self, workflows: Sequence[Workflow]) -> list[WorkflowVersion]:
        """Each workflow's latest version, in order, read in one call (`version`'s
        NotFound for one that is missing)."""
        refs = [version_ref(self.db, w.id, w.latest_version) for w in workflows]
        snaps = {s.reference.path: s for s in self.db.get_all(refs)} if refs else {}
        found = []
        for workflow, ref in zip(workflows, refs, strict=True):
            snap = snaps.get(ref.path)
            if snap is None or not snap.exists:
                raise NotFound(
                    f"workflow {workflow.slug!r} has no version {workflow.latest_version}"
                )
            found.append(from_snapshot(WorkflowVersion, snap))
        return found


class FirestoreResources(Collections):
    def _ref(self, org_id: str, slug: str, name: str) -> Any:
        return self.db.collection(RESOURCES).document(stable_id(org_id, slug, name))

    def find(self, org_id: str, slug: str, name: str) -> WorkflowResource | None:
        snap = self._ref(org_id, slug, name).get()
        return from_snapshot(WorkflowResource, snap) if snap.exists else None

    def save(self, resource: WorkflowResource) -> None:
        self._ref(resource.org_id, resource.workflow_slug, resource.name).set(to_doc(resource))

    def delete(self, org_id: str, slug: str, name: str) -> bool:
        ref = self._ref(org_id, slug, name)
        if not ref.get().exists:
            return False
        ref.delete()
        return True

    def all(self, org_id: str, slug: str) -> list[WorkflowResource]:
        query = (
            self.db.collection(RESOURCES)
            .where(filter=FieldFilter("org_id", "==", org_id))
            .where(filter=FieldFilter("workflow_slug", "==", slug))
        )
        found = [from_snapshot(WorkflowResource, snap) for snap in query.stream()]
        return sorted(found, key=lambda r: r.name)
