"""Workflow resources: files a step needs besides the submission (an XSD, a Schematron),
uploaded once to the workflow and named from step configs. A version pins each
resource's checksum when it is saved; replacing a resource that the latest version uses
saves a new version pinned to the new content (older versions keep theirs)."""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass

from shared.adapters.storage import BlobExists, BlobStore
from shared.adapters.storage.layout import Layout
from shared.domain.enums import AuditAction
from shared.domain.models import ResourcePin, WorkflowResource, WorkflowVersion
from shared.persistence.ports import Repositories
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import NotFound, PayloadTooLarge, Unprocessable
from shared.services import audit

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_RESOURCE_BYTES = 10 * 1024 * 1024


@dataclass
class ResourceBook:
    """What saving a workflow needs: each named resource's pin, and its bytes to check
    the config with."""

    repos: Repositories
    store: BlobStore
    org_id: str
    slug: str

    def pin(self, name: str) -> ResourcePin:
        found = self.repos.resources.find(self.org_id, self.slug, name)
        if found is None:
            raise NotFound(f"workflow {self.slug!r} has no resource {name!r}; upload it first")
        return found.pin()

    def read(self, pin: ResourcePin) -> bytes:
        return self.store.read_bytes(pin.uri)


def upload(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    org_id: str,
    slug: str,
    name: str,
    data: bytes,
    content_type: str,
    now: Clock = utcnow,
) -> WorkflowResource:
    if re.fullmatch(NAME, name) is None:
        raise Unprocessable(f"name must match {NAME}, not {name[:64]!r}")
    if len(data) > MAX_RESOURCE_BYTES:
        raise PayloadTooLarge(f"a resource is at most {MAX_RESOURCE_BYTES} bytes")
    repos.workflows.get(org_id, slug)  # 404 for another org's or a missing workflow
    digest = hashlib.sha256(data).hexdigest()
    uri = Layout(settings.storage_uri).resource_file(org_id, slug, name, digest)
    # Content-addressed: the same content uploaded before is already there.
    with contextlib.suppress(BlobExists):
        store.write_bytes(uri, data, content_type, create_only=True)
    resource = WorkflowResource(
        id="",
        org_id=org_id,
        workflow_slug=slug,
        name=name,
        sha256=digest,
        uri=uri,
        size_bytes=len(data),
        content_type=content_type,
        created_at=now(),
    )
    repos.resources.save(resource)
    return resource


def upload_and_repin(
    repos: Repositories,
    store: BlobStore,
    settings: Settings,
    org_id: str,
    slug: str,
    name: str,
    data: bytes,
    content_type: str,
    now: Clock = utcnow,
    by: audit.By | None = None,
) -> tuple[WorkflowResource, WorkflowVersion | None]:
    """Uploads resource `name`, then saves a new version of the workflow pinned to its new
    content when the latest version uses it (the new version, else None)."""
    # Imported on use: workflows imports this module (ResourceBook) as it loads.
    from shared.services.workflows import repin

    resource = upload(repos, store, settings, org_id, slug, name, data, content_type, now)
    book = ResourceBook(repos, store, org_id, slug)
    version = repin(repos, org_id, slug, name, book, now)
    if by is not None:
        audit.resource_uploaded(repos, by, resource, version)
    return resource, version


def remove(
    repos: Repositories, org_id: str, slug: str, name: str, by: audit.By | None = None
) -> None:
    repos.workflows.get(org_id, slug)
    if re.fullmatch(NAME, name) is None or not repos.resources.delete(org_id, slug, name):
        raise NotFound(f"workflow {slug!r} has no resource {name[:64]!r}")
    if by is not None:
        target, action = f"resource:{slug}/{name}", AuditAction.RESOURCE_DELETED
        audit.record(repos, org_id, by.actor, action, target, by.route)
