"""The org's workflows: the list, one workflow's version (its steps, config and the
resources it can name), and, for authors, its spec as JSON to save a new version from.
A spec the service refuses is shown again as it was sent, with the reason beside it."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from shared import wiring
from shared.api.http import loads, parse_model
from shared.console.app import Context, page
from shared.domain.enums import Role
from shared.domain.models import Workflow, WorkflowVersion
from shared.platform.errors import AssayError, BadRequest
from shared.services import queries, resources, workflows

# What a version was saved from: the body the API's PUT takes (WorkflowSpec), as JSON.
_SPEC_FIELDS: dict[str, Any] = {
    "name": True,
    "steps": {"__all__": {"key", "name", "validator", "config", "timeout_seconds", "assertions"}},
    "retention": True,
    "allowed_file_types": True,
    "execution": True,
}
MAX_SPEC_CHARS = 1024 * 1024


def spec_text(version: WorkflowVersion) -> str:
    return json.dumps(version.model_dump(mode="json", include=_SPEC_FIELDS), indent=2)


def _version_arg(ctx: Context) -> int | None:
    raw = ctx.request.args.get("version")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise BadRequest(f"version must be a positive whole number, not {raw[:64]!r}")
    return int(raw)


@page(Role.VIEWER)
def list_workflows(ctx: Context) -> Response:
    return ctx.render("workflows.html", listed=queries.workflows(ctx.repos, ctx.org_id))


def _show(
    ctx: Context,
    workflow: Workflow,
    version: WorkflowVersion,
    *,
    status: int = 200,
    text: str | None = None,
    error: AssayError | None = None,
) -> Response:
    saved = ctx.request.args.get("saved", "")
    return ctx.render(
        "workflow.html",
        status=status,
        workflow=workflow,
        version=version,
        configs=[json.dumps(step.config, indent=2) for step in version.steps],
        resources=queries.resources(ctx.repos, ctx.org_id, workflow.slug),
        editor=ctx.allows(Role.AUTHOR),
        text=spec_text(version) if text is None else text,
        error=error,
        saved=saved if saved.isdigit() else "",
    )


@page(Role.VIEWER)
def show(ctx: Context) -> Response:
    workflow, version = queries.workflow(
        ctx.repos, ctx.org_id, ctx.args["slug"], lambda: _version_arg(ctx)
    )
    return _show(ctx, workflow, version)


def _spec(slug: str, text: str) -> workflows.WorkflowSpec:
    """The editor's text as the API's PUT body: JSON, the same slug (or none), a spec."""
    if len(text) > MAX_SPEC_CHARS:
        raise BadRequest(f"the spec is {len(text)} characters; at most {MAX_SPEC_CHARS}")
    data = loads(text, "the spec")
    if isinstance(data, dict) and data.get("slug", slug) != slug:
        raise BadRequest("the spec's slug differs from this workflow's; a slug cannot change")
    if isinstance(data, dict):
        data.pop("slug", None)
    return parse_model(workflows.WorkflowSpec, data)


@page(Role.AUTHOR)
def edit(ctx: Context) -> Response:
    """A new version from the editor's JSON, as the API's PUT saves it; then the
    workflow's page (303). A refusal keeps the text and says why."""
    slug = ctx.args["slug"]
    workflow = ctx.repos.workflows.get(ctx.org_id, slug)
    text = ctx.request.form.get("spec", "")
    assert ctx.member is not None  # an org page: the frame found the membership
    try:
        workflow, version = workflows.update_workflow(
            ctx.repos,
            ctx.org_id,
            slug,
            _spec(slug, text),
            book=resources.ResourceBook(ctx.repos, wiring.blob_store(), ctx.org_id, slug),
            as_role=ctx.member.role,
            by=ctx.by(),
        )
    except AssayError as refused:
        latest = ctx.repos.workflows.version(workflow)
        return _show(ctx, workflow, latest, status=refused.status, text=text, error=refused)
    return ctx.redirect(f"/orgs/{ctx.org_id}/workflows/{slug}?saved={version.version}")
