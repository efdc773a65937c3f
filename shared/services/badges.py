"""Status badges (README, "Status badges"): an author turns a workflow's public badge
on or off, and anyone holding its URL sees the workflow's name and latest result.

The token is the only secret: 256 random bits, never derived from the org or the
workflow, and a badge turned off is deleted, so turning it on again makes another URL
and the old one names nothing. A badge shows nothing else about the org."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.badges import Badge, Look, label, look, new_token
from shared.domain.enums import AuditAction
from shared.persistence.ports import Repositories
from shared.platform.clock import utcnow
from shared.platform.errors import NotFound
from shared.services import audit


@dataclass(frozen=True)
class Shown:
    """What a badge's SVG says: the workflow's name, and its latest result's look."""

    name: str
    look: Look


def path_of(badge: Badge) -> str:
    """Where the api serves the badge, from its root."""
    return f"/badges/{badge.token}.svg"


def current(repos: Repositories, org_id: str, slug: str) -> Badge | None:
    """The workflow's badge, if it is on (NotFound for a workflow that is not the org's)."""
    repos.workflows.get(org_id, slug)
    return repos.badges.of_workflow(org_id, slug)


def enable(repos: Repositories, org_id: str, slug: str, by: audit.By) -> tuple[Badge, bool]:
    """Turns the badge on: the badge, and whether this call made it (a badge already on
    stays as it was, its URL too)."""
    workflow = repos.workflows.get(org_id, slug)
    now = utcnow()
    made = Badge(
        token=new_token(),
        org_id=org_id,
        workflow_id=workflow.id,
        workflow_slug=slug,
        workflow_created_at=workflow.created_at,
        created_at=now,
    )
    badge, created = repos.badges.enable(made)
    if created:
        _record(repos, badge, AuditAction.BADGE_ENABLED, by)
    return badge, created


def disable(repos: Repositories, org_id: str, slug: str, by: audit.By) -> bool:
    """Turns the badge off, its URL then answering 404; False when it was off."""
    repos.workflows.get(org_id, slug)
    gone = repos.badges.disable(org_id, slug)
    if gone is not None:
        _record(repos, gone, AuditAction.BADGE_DISABLED, by)
    return gone is not None


def _record(repos: Repositories, badge: Badge, action: AuditAction, by: audit.By) -> None:
    # Once per badge and action. The entry never names the token: it is as good as the
    # URL, and the log is read by admins who need not hold it.
    target = f"workflow:{badge.workflow_slug}"
    once = (badge.workflow_id, badge.created_at.isoformat())
    audit.record(repos, badge.org_id, by.actor, action, target, by.route, once_per=once)


def shown(repos: Repositories, token: str) -> Shown:
    """What the badge of `token` shows: the badge read by its token, the workflow by its
    key, and the newest ended run's result by one indexed query of one document.
    NotFound for a token that names no badge, and for a workflow gone since."""
    badge = repos.badges.find(token)
    workflow = None if badge is None else repos.workflows.find(badge.org_id, badge.workflow_slug)
    if badge is None or workflow is None or workflow.created_at != badge.workflow_created_at:
        raise NotFound("there is no such badge")
    result = repos.runs.latest_result(badge.org_id, badge.workflow_slug)
    return Shown(label(workflow.name), look(result))
