"""Workflows, their versions and their resources in memory."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.models import Workflow, WorkflowResource, WorkflowVersion
from shared.persistence.memory import reads
from shared.persistence.memory.store import (
    RESOURCES,
    WORKFLOWS,
    Store,
    delete,
    put,
    resource_key,
)
from shared.platform.errors import NotFound


class MemoryWorkflows:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def id_for(self, org_id: str, slug: str) -> str:
        return reads.workflow_id(org_id, slug)

    def find(self, org_id: str, slug: str) -> Workflow | None:
        return reads.find_workflow(self._reader, org_id, slug)

    def get(self, org_id: str, slug: str) -> Workflow:
        workflow = self.find(org_id, slug)
        if workflow is None:
            raise NotFound(f"workflow {slug!r} does not exist in organization {org_id!r}")
        return workflow

    def all(self, org_id: str) -> list[Workflow]:
        """By slug."""
        found = [w for w, _ in self._store.models(WORKFLOWS, Workflow) if w.org_id == org_id]
        return [w.model_copy(deep=True) for w in sorted(found, key=lambda w: w.slug)]

    def version(self, workflow: Workflow, number: int | None = None) -> WorkflowVersion:
        return reads.get_version(self._reader, workflow, number)

    def latest_versions(self, workflows: Sequence[Workflow]) -> list[WorkflowVersion]:
        with self._store.lock:  # one read, as Firestore's get_all is
            return [self.version(w) for w in workflows]


class MemoryResources:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = reads.Direct(store)

    def find(self, org_id: str, slug: str, name: str) -> WorkflowResource | None:
        key = resource_key(org_id, slug, name)
        return reads.find(self._reader, RESOURCES, key, WorkflowResource)

    def save(self, resource: WorkflowResource) -> None:
        key = resource_key(resource.org_id, resource.workflow_slug, resource.name)
        self._store.commit([put(RESOURCES, key, resource)])

    def delete(self, org_id: str, slug: str, name: str) -> bool:
        key = resource_key(org_id, slug, name)
        with self._store.lock:
            if self._store.get(RESOURCES, key) is None:
                return False
            self._store.commit([delete(RESOURCES, key)])
            return True

    def all(self, org_id: str, slug: str) -> list[WorkflowResource]:
        """By name."""
        found = [
            r
            for r, _ in self._store.models(RESOURCES, WorkflowResource)
            if r.org_id == org_id and r.workflow_slug == slug
        ]
        return [r.model_copy(deep=True) for r in sorted(found, key=lambda r: r.name)]
