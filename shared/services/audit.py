"""The audit log (decision record 0069): who changed what in an org, when, and through
which route. A change is recorded just after it succeeds, not in its transaction; an
entry's id is derived from the change where the change has an identity of its own (a
workflow's version, a run, a key), so a retried request records it once.

Entries carry identifiers and a few facts (a version number, a retention policy, a
size), never content: no submitted file, no resource's bytes, no text a user wrote."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.enums import ActorKind, AuditAction, Role
from shared.domain.models import (
    AuditEntry,
    ValidationRun,
    Workflow,
    WorkflowResource,
    WorkflowVersion,
)
from shared.persistence.ports import Page, Repositories
from shared.platform.clock import utcnow
from shared.platform.errors import NotFound
from shared.platform.ids import new_id, stable_id


@dataclass(frozen=True)
class Actor:
    """Who made a change, as the log names them: "key:<id>", "member:<id>" or
    "operator:<name>"."""

    kind: ActorKind
    name: str

    @classmethod
    def key(cls, key_id: str) -> Actor:
        return cls(ActorKind.KEY, f"key:{key_id}")

    @classmethod
    def member(cls, member_id: str) -> Actor:
        return cls(ActorKind.MEMBER, f"member:{member_id}")

    @classmethod
    def operator(cls, name: str | None = None) -> Actor:
        """Someone at the command line, with database access: the local user's name."""
        return cls(ActorKind.OPERATOR, f"operator:{name or _login()}")


@dataclass(frozen=True)
class By:
    """Who asks for a change and through which route: what the log records of it. A
    service that changes something takes one and records the change once it succeeded."""

    actor: Actor
    route: str

    @classmethod
    def operator(cls, route: str) -> By:
        """Someone at the command line (the local user), through `route`."""
        return cls(Actor.operator(), route)


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER, no passwd entry (a bare container)
        return "unknown"


def record(
    repos: Repositories,
    org_id: str,
    actor: Actor,
    action: AuditAction,
    target: str,
    route: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    *,
    once_per: Sequence[object] | None = None,
) -> AuditEntry:
    """Appends one entry. `once_per` names the change (a workflow id and version, a run
    id): the entry's id is derived from it and the action, so recording the same change
    again (a retried request) keeps the first entry. Without it, every call is new."""
    entry_id = stable_id(org_id, action.value, *once_per) if once_per is not None else new_id()
    entry = AuditEntry(
        id=entry_id,
        org_id=org_id,
        at=at or utcnow(),
        actor=actor.name,
        actor_kind=actor.kind,
        action=action,
        target=target,
        route=route,
        details=details or {},
    )
    repos.audit.append(entry)
    return entry


def workflow_saved(
    repos: Repositories,
    actor: Actor,
    route: str,
    workflow: Workflow,
    version: WorkflowVersion,
) -> None:
    """A workflow's new version: created (its first) or saved, and its retention's change
    when it differs from the version before."""
    first = version.version == 1
    action = AuditAction.WORKFLOW_CREATED if first else AuditAction.WORKFLOW_SAVED
    version_recorded(repos, actor, route, version, action)
    before = None if first else _previous(repos, workflow, version.version - 1)
    if before is None or before.retention == version.retention:
        return
    change = {
        "retention": version.retention.model_dump(mode="json"),
        "previous_retention": before.retention.model_dump(mode="json"),
    }
    version_recorded(repos, actor, route, version, AuditAction.RETENTION_CHANGED, change)


def version_recorded(
    repos: Repositories,
    actor: Actor,
    route: str,
    version: WorkflowVersion,
    action: AuditAction = AuditAction.WORKFLOW_SAVED,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry about a workflow's version, once per version and action."""
    return record(
        repos,
        version.org_id,
        actor,
        action,
        f"workflow:{version.slug}",
        route,
        {"version": version.version, **(details or {})},
        once_per=(version.workflow_id, version.version),
    )


def _previous(repos: Repositories, workflow: Workflow, number: int) -> WorkflowVersion | None:
    try:
        return repos.workflows.version(workflow, number)
    except NotFound:
        return None


def member_changed(
    repos: Repositories,
    org_id: str,
    actor: Actor,
    action: AuditAction,
    email: str,
    route: str,
    role: Role | None = None,
) -> AuditEntry:
    """A member added, removed or given another role (`AuditAction.MEMBER_*`): the
    members service's entry, naming the member and the role it holds now."""
    details = {"role": role.value} if role is not None else None
    return record(repos, org_id, actor, action, f"member:{email}", route, details)


def entries(
    repos: Repositories,
    org_id: str,
    *,
    action: AuditAction | None = None,
    limit: int = 50,
    page_token: str | None = None,
) -> Page[AuditEntry]:
    """The org's log, newest first, a page at a time."""
    return repos.audit.page(org_id, action=action, limit=limit, page_token=page_token)


def resource_uploaded(
    repos: Repositories, by: By, resource: WorkflowResource, version: WorkflowVersion | None
) -> None:
    """The upload, and the version it saved when the latest used the resource."""
    target = f"resource:{resource.workflow_slug}/{resource.name}"
    details: dict[str, Any] = {"size_bytes": resource.size_bytes}
    if version is not None:
        details["new_version"] = version.version
        version_recorded(repos, by.actor, by.route, version, details={"resource": resource.name})
    once = (resource.workflow_slug, resource.name, resource.sha256, resource.created_at)
    action = AuditAction.RESOURCE_UPLOADED
    record(repos, resource.org_id, by.actor, action, target, by.route, details, once_per=once)


def run_changed(
    repos: Repositories,
    by: By,
    action: AuditAction,
    run: ValidationRun,
    details: dict[str, Any] | None = None,
) -> None:
    """A run cancelled or re-run, once per run: a second cancel changes nothing."""
    target = f"run:{run.id}"
    record(repos, run.org_id, by.actor, action, target, by.route, details, once_per=(run.id,))
