"""`assay admin audit`: an org's audit log (decision record 0069), read from Firestore
directly like the other admin commands, newest first."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from cli.output import emit, fail, out

ACTIONS = [
    "workflow.created",
    "workflow.saved",
    "workflow.deleted",
    "retention.changed",
    "resource.uploaded",
    "resource.deleted",
    "key.created",
    "key.revoked",
    "uploader.added",
    "uploader.removed",
    "run.cancelled",
    "run.rerun",
    "member.added",
    "member.removed",
    "member.role_changed",
]


def _view(entry: Any) -> dict[str, Any]:
    view: dict[str, Any] = entry.model_dump(mode="json", exclude={"org_id"})
    return view


@click.command("audit")
@click.option("--org", required=True, help="The organization's id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--action", default=None, type=click.Choice(ACTIONS), help="Only this action.")
@click.option("--page-token", default=None, help="The next_page_token a page before gave.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def audit(org: str, limit: int, action: str | None, page_token: str | None, as_json: bool) -> None:
    """ORG's audit log, newest first: who changed what, when, and through which route."""
    from shared import wiring
    from shared.domain.enums import AuditAction
    from shared.platform.errors import AssayError
    from shared.services.audit import entries

    repos = wiring.repositories()
    if repos.orgs.get(org) is None:
        fail(as_json, f"organization {org!r} does not exist", 2)
    wanted = AuditAction(action) if action else None
    try:
        page = entries(repos, org, action=wanted, limit=limit, page_token=page_token)
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    views = [_view(e) for e in page.items]
    if as_json:
        emit(True, {"items": views, "next_page_token": page.next_page_token})
        return
    table = Table("at", "actor", "action", "target", "route", "details")
    for v in views:
        details = ", ".join(f"{k}={val}" for k, val in v["details"].items())
        table.add_row(v["at"], v["actor"], v["action"], v["target"], v["route"], details or "-")
    out.print(table)
    if page.next_page_token:
        out.print(f"more: --page-token {page.next_page_token}", highlight=False)
