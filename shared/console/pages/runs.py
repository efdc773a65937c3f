"""The org's runs, newest first, filtered by status, result and workflow, and paged."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response

from shared.console.app import Context, page
from shared.domain.enums import Role, RunResult, RunStatus
from shared.platform.errors import BadRequest
from shared.services import queries

PAGE_SIZE = 50


def _choice(raw: str | None, allowed: type[RunStatus] | type[RunResult], name: str) -> str | None:
    if not raw:
        return None
    if raw.upper() not in allowed.__members__:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, not {raw[:64]!r}")
    return raw.upper()


def _filter(ctx: Context, workflows: list[str]) -> queries.RunFilter:
    args = ctx.request.args
    workflow = args.get("workflow") or None
    if workflow is not None and workflow not in workflows:
        raise BadRequest(f"there is no workflow {workflow[:64]!r} in {ctx.org_id!r}")
    return queries.RunFilter(
        status=_choice(args.get("status"), RunStatus, "status"),
        result=_choice(args.get("result"), RunResult, "result"),
        workflow=workflow,
        limit=PAGE_SIZE,
        page_token=args.get("page_token") or None,
    )


def _next(ctx: Context, where: queries.RunFilter, token: str | None) -> str | None:
    if token is None:
        return None
    kept = {"status": where.status, "result": where.result, "workflow": where.workflow}
    query = {k: v for k, v in kept.items() if v} | {"page_token": token}
    return f"/orgs/{ctx.org_id}/runs?{urlencode(query)}"


@page(Role.VIEWER)
def list_runs(ctx: Context) -> Response:
    workflows = [w.slug for w, _ in queries.workflows(ctx.repos, ctx.org_id)]
    where = _filter(ctx, workflows)
    found = queries.runs(ctx.repos, ctx.org_id, where)
    return ctx.render(
        "runs.html",
        rows=found.items,
        where=where,
        statuses=list(RunStatus),
        results=[r for r in RunResult if r is not RunResult.UNKNOWN],
        workflows=workflows,
        next_page=_next(ctx, where, found.next_page_token),
    )
