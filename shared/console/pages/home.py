"""The signed-in person's organizations."""

from __future__ import annotations

from flask import Response

from shared.console.app import Context, page


@page(None)
def orgs(ctx: Context) -> Response:
    memberships = []
    for org_id in ctx.orgs:
        member = ctx.repos.members.get(org_id, ctx.person.email)
        if member is not None:
            memberships.append((org_id, member.role))
    return ctx.render("home.html", memberships=memberships)


@page(None)
def org(ctx: Context) -> Response:
    """An org's own address opens its runs (membership was checked on the way here)."""
    return ctx.redirect(f"/orgs/{ctx.org_id}/runs")
