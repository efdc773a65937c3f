"""The memory twin's one store: collections of documents, each stored with the version
of the commit that last wrote it, behind one lock. A document is a private deep copy of
a model, never mutated in place (a write stores a new object), so a read may copy it
out after the lock is released and no caller's mutation reaches the store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from shared.domain.models import (
    ApiKey,
    Artifact,
    CallbackReceipt,
    Finding,
    IdempotencyRecord,
    Model,
    Organization,
    Project,
    PurgeRetry,
    Submission,
    UploadEvent,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowVersion,
)
from shared.platform.errors import AlreadyExists, ChangedConcurrently, NotFound
from shared.platform.ids import stable_id

M = TypeVar("M", bound=Model)

ORGS = "orgs"
PROJECTS = "projects"
API_KEYS = "api_keys"
WORKFLOWS = "workflows"
VERSIONS = "versions"
SUBMISSIONS = "submissions"
RUNS = "runs"
CALLBACK_RECEIPTS = "callback_receipts"
IDEMPOTENCY_KEYS = "idempotency_keys"
PURGE_RETRIES = "purge_retries"
UPLOAD_EVENTS = "upload_events"
UPLOAD_GRANTS = "upload_grants"  # the claim of a grant by the one upload it accepted
UPLOAD_URL_GRANTS = "upload_url_grants"
UPLOADERS = "uploaders"
RESOURCES = "workflow_resources"


class GrantClaim(Model):
    """A signed-URL grant's claim by the one upload it was accepted as."""

    event_id: str
    expire_at: datetime | None = None


def findings_of(run_id: str) -> str:
    return f"{RUNS}/{run_id}/findings"


def artifacts_of(run_id: str) -> str:
    return f"{RUNS}/{run_id}/artifacts"


def version_key(workflow_id: str, number: int) -> str:
    return f"{workflow_id}/{number}"


def resource_key(org_id: str, slug: str, name: str) -> str:
    return stable_id(org_id, slug, name)


@dataclass(frozen=True)
class Stored:
    model: Model
    version: int


def copy_out(stored: Stored, cls: type[M]) -> M:
    assert isinstance(stored.model, cls)
    return stored.model.model_copy(deep=True)


def home_of(model: Model) -> tuple[str, str]:
    """The collection and key an aggregate is written to (as Firestore keys it)."""
    if isinstance(model, WorkflowVersion):
        return VERSIONS, version_key(model.workflow_id, model.version)
    if isinstance(model, PurgeRetry):
        return PURGE_RETRIES, model.submission_id
    if isinstance(model, WorkflowResource):
        return RESOURCES, resource_key(model.org_id, model.workflow_slug, model.name)
    if isinstance(model, Finding):
        return findings_of(model.run_id), model.id
    if isinstance(model, Artifact):
        return artifacts_of(model.run_id), model.id
    for cls, collection in _HOMES.items():
        if isinstance(model, cls):
            return collection, str(getattr(model, "id"))  # noqa: B009 - typed as Model
    raise TypeError(f"no home for {type(model).__name__}")


_HOMES: dict[type[Model], str] = {
    Organization: ORGS,
    Project: PROJECTS,
    ApiKey: API_KEYS,
    Workflow: WORKFLOWS,
    Submission: SUBMISSIONS,
    ValidationRun: RUNS,
    CallbackReceipt: CALLBACK_RECEIPTS,
    IdempotencyRecord: IDEMPOTENCY_KEYS,
    UploadEvent: UPLOAD_EVENTS,
}


def copy_in(model: Model, key: str) -> Model:
    """The private copy a write stores: what a Firestore document would hold, so the id
    reads back as the key and the never-stored `updated` as nothing."""
    update: dict[str, object] = {}
    if "id" in type(model).model_fields:
        update["id"] = key
    if isinstance(model, IdempotencyRecord):
        update["updated"] = None
    return model.model_copy(deep=True, update=update)


# -- writes ---------------------------------------------------------------------------

Staged = dict[tuple[str, str], Stored | None]


@dataclass(frozen=True)
class Write:
    """One write of a commit. `change` maps the document as the commit finds it (None
    when absent) to what it becomes (None deletes); it raises to refuse the commit."""

    collection: str
    key: str
    change: Callable[[Stored | None], Model | None]


def create(collection: str, key: str, model: Model) -> Write:
    stored = copy_in(model, key)

    def change(current: Stored | None) -> Model:
        if current is not None:
            raise AlreadyExists(f"{collection}/{key} already exists")
        return stored

    return Write(collection, key, change)


def put(collection: str, key: str, model: Model) -> Write:
    stored = copy_in(model, key)
    return Write(collection, key, lambda current: stored)


def delete(collection: str, key: str) -> Write:
    return Write(collection, key, lambda current: None)


ANY = object()  # no precondition on the version


def update(
    collection: str,
    key: str,
    edit: Callable[[Model], Model],
    since: object = ANY,
) -> Write:
    """Changes an existing document (NotFound when there is none); given `since`, only if
    it is still at that version (ChangedConcurrently otherwise, and when it is gone)."""

    def change(current: Stored | None) -> Model:
        if current is None:
            if since is not ANY:
                raise ChangedConcurrently(f"{collection}/{key} is gone")
            raise NotFound(f"{collection}/{key} does not exist")
        if since is not ANY and current.version != since:
            raise ChangedConcurrently(f"{collection}/{key} changed since it was read")
        return edit(current.model)

    return Write(collection, key, change)


def fields(**values: object) -> Callable[[Model], Model]:
    """An edit that sets top-level fields (Firestore's update of those fields)."""
    return lambda model: model.model_copy(update=values)


# -- the store ------------------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._collections: dict[str, dict[str, Stored]] = {}
        self._commits = 0

    def get(self, collection: str, key: str) -> Stored | None:
        with self.lock:
            return self._collections.get(collection, {}).get(key)

    def scan(self, collection: str) -> list[tuple[str, Stored]]:
        """The collection's documents by key (Firestore's order when no other is asked)."""
        with self.lock:
            return sorted(self._collections.get(collection, {}).items())

    def commit(self, writes: Sequence[Write]) -> int:
        """Applies every write, or none when one refuses; returns the commit's version."""
        with self.lock:
            staged: Staged = {}
            for write in writes:
                where = (write.collection, write.key)
                current = staged[where] if where in staged else self.get(*where)
                model = write.change(current)
                staged[where] = None if model is None else Stored(model, self._commits + 1)
            self._commits += 1
            for (collection, key), stored in staged.items():
                docs = self._collections.setdefault(collection, {})
                if stored is None:
                    docs.pop(key, None)
                else:
                    docs[key] = stored
            return self._commits

    def models(self, collection: str, cls: type[M]) -> Iterator[tuple[M, int]]:
        """Private (uncopied) models and versions, by key: callers copy what they return."""
        for _, stored in self.scan(collection):
            assert isinstance(stored.model, cls)
            yield stored.model, stored.version
