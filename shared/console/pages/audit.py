"""The org's audit log, for its admins: who changed what, when and through which route,
newest first, filtered by action and paged. Every value is shown as text."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Response

from shared.console.app import Context, page
from shared.domain.enums import AuditAction, Role
from shared.platform.errors import BadRequest
from shared.services import audit

PAGE_SIZE = 50


def _action(raw: str | None) -> AuditAction | None:
    if not raw:
        return None
    try:
        return AuditAction(raw)
    except ValueError:
        allowed = ", ".join(AuditAction)
        raise BadRequest(f"action must be one of {allowed}, not {raw[:64]!r}") from None


def _details(details: dict[str, Any]) -> str:
    """The entry's facts as one line of text: `name=value`, other than text as JSON."""
    return ", ".join(f"{k}={_value(v)}" for k, v in sorted(details.items()))


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _next(ctx: Context, action: AuditAction | None, token: str | None) -> str | None:
    if token is None:
        return None
    query = ({"action": action.value} if action else {}) | {"page_token": token}
    return f"/orgs/{ctx.org_id}/audit?{urlencode(query)}"


@page(Role.ADMIN)
def entries(ctx: Context) -> Response:
    action = _action(ctx.request.args.get("action"))
    token = ctx.request.args.get("page_token") or None
    found = audit.entries(ctx.repos, ctx.org_id, action=action, limit=PAGE_SIZE, page_token=token)
    return ctx.render(
        "audit.html",
        rows=[(entry, _details(entry.details)) for entry in found.items],
        action=action,
        actions=list(AuditAction),
        next_page=_next(ctx, action, found.next_page_token),
    )
