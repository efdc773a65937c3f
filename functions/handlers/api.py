"""`api`: the public REST API. Parses the request, calls a service, maps the result."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule

from shared import wiring
from shared.api.auth.api_keys import authenticate
from shared.api.auth.rate_limit import KnownKeys, client_address
from shared.api.http import (
    guarded,
    json_response,
    loads,
    parse_json,
    parse_model,
    prefer_wait,
    problem,
    read_body,
)
from shared.api.intake import read_upload
from shared.api.views import (
    audit_view,
    finding_view,
    grant_view,
    resource_view,
    run_view,
    submission_view,
    upload_view,
    workflow_view,
)
from shared.domain.enums import AuditAction, Role, RunStatus
from shared.domain.models import ApiKey, ValidationRun
from shared.domain.roles import require
from shared.platform.config import get_settings
from shared.platform.errors import BadRequest, NotFound, Unauthorized
from shared.platform.ids import is_new_id
from shared.services import audit, queries, resources, runs, workflows
from shared.services.submissions import submit

if TYPE_CHECKING:
    from shared.catalog.validators import ValidatorSpec

Handler = Callable[[Request, ApiKey, dict[str, str]], Response]
ROUTES: dict[str, Handler] = {}
# The least role each route needs: declared here, with the route, and nowhere else. handle()
# enforces it before the handler runs, and the contract states it (shared/api/openapi.py).
ROLES: dict[str, Role] = {}


def route(name: str, role: Role) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES[name] = fn
        ROLES[name] = role
        return fn

    return register


class Route(Rule):
    """A rule the API matches and never builds a URL from. Werkzeug compiles two URL
    builders per rule as it binds (Python source, through ast and exec): 17 ms of the
    api's cold start for twenty rules, for url_for, which nothing here calls."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        return _no_builder


def _no_builder(*args: object, **kwargs: object) -> tuple[str, str]:
    raise NotImplementedError("the API's routes are matched, not built")


# The routes anyone may call, with no key: health, the contract, the credentials' public
# keys and the status badges. Every other route declares a role.
PUBLIC = frozenset({"health", "openapi", "jwks", "badge"})

URLS = Map(
    [
        Route("/healthz", endpoint="health", methods=["GET"]),
        Route("/v1/openapi.json", endpoint="openapi", methods=["GET"]),
        Route("/.well-known/jwks.json", endpoint="jwks", methods=["GET"]),
        Route("/v1/validators", endpoint="list_validators", methods=["GET"]),
        Route("/v1/orgs/<org>/workflows", endpoint="list_workflows", methods=["GET"]),
        Route("/v1/orgs/<org>/workflows", endpoint="create_workflow", methods=["POST"]),
        Route("/v1/orgs/<org>/workflows/<slug>", endpoint="get_workflow", methods=["GET"]),
        Route("/v1/orgs/<org>/workflows/<slug>", endpoint="update_workflow", methods=["PUT"]),
        Route("/v1/orgs/<org>/workflows/<slug>/badge", endpoint="enable_badge", methods=["PUT"]),
        Route(
            "/v1/orgs/<org>/workflows/<slug>/badge", endpoint="disable_badge", methods=["DELETE"]
        ),
        # Public: `{token}.svg` (the whole segment, so the rule has one variable).
        Route("/badges/<badge>", endpoint="badge", methods=["GET"]),
        Route("/v1/orgs/<org>/workflows/<slug>/runs", endpoint="submit", methods=["POST"]),
        Route(
            "/v1/orgs/<org>/workflows/<slug>/resources",
            endpoint="list_resources",
            methods=["GET"],
        ),
        Route(
            "/v1/orgs/<org>/workflows/<slug>/resources",
            endpoint="upload_resource",
            methods=["POST"],
        ),
        Route(
            "/v1/orgs/<org>/workflows/<slug>/resources/<name>",
            endpoint="delete_resource",
            methods=["DELETE"],
        ),
        Route("/v1/orgs/<org>/runs", endpoint="list_runs", methods=["GET"]),
        Route("/v1/orgs/<org>/runs/<run>", endpoint="get_run", methods=["GET"]),
        Route("/v1/orgs/<org>/runs/<run>/findings", endpoint="list_findings", methods=["GET"]),
        Route("/v1/orgs/<org>/runs/<run>/evidence", endpoint="get_run_evidence", methods=["GET"]),
        Route("/v1/orgs/<org>/runs/<run>/credential", endpoint="get_credential", methods=["GET"]),
        Route("/v1/orgs/<org>/runs/<run>/cancel", endpoint="cancel_run", methods=["POST"]),
        Route("/v1/orgs/<org>/submissions/<submission>/runs", endpoint="rerun", methods=["POST"]),
        Route(
            "/v1/orgs/<org>/submissions/<submission>", endpoint="get_submission", methods=["GET"]
        ),
        Route("/v1/orgs/<org>/workflows/<slug>/uploads", endpoint="grant_upload", methods=["POST"]),
        Route("/v1/orgs/<org>/uploads/<upload>", endpoint="get_granted_upload", methods=["GET"]),
        Route("/v1/orgs/<org>/uploads/<slug>/<filename>", endpoint="get_upload", methods=["GET"]),
        Route("/v1/orgs/<org>/audit", endpoint="list_audit", methods=["GET"]),
        Route("/v1/orgs/<org>/webhooks", endpoint="list_webhooks", methods=["GET"]),
        Route("/v1/orgs/<org>/webhooks", endpoint="create_webhook", methods=["POST"]),
        Route("/v1/orgs/<org>/webhooks/<webhook>", endpoint="delete_webhook", methods=["DELETE"]),
        Route(
            "/v1/orgs/<org>/webhooks/<webhook>/rotate",
            endpoint="rotate_webhook",
            methods=["POST"],
        ),
        Route(
            "/v1/orgs/<org>/webhooks/<webhook>/deliveries",
            endpoint="list_webhook_deliveries",
            methods=["GET"],
        ),
    ],
    strict_slashes=False,
    # The one redirect that builds a URL from a rule; no route has defaults to redirect to.
    redirect_defaults=False,
)


def _whole(raw: str) -> bool:
    """ASCII digits, at most an int64 (a generation): "²" or 5,000 digits are not."""
    return 0 < len(raw) <= 20 and raw.isascii() and raw.isdigit()


def _limit(request: Request, default: int, most: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not _whole(raw) or not 1 <= int(raw) <= most:
        raise BadRequest(f"limit must be a whole number from 1 to {most}, not {raw[:64]!r}")
    return int(raw)


def _version_arg(request: Request) -> int | None:
    raw = request.args.get("version")
    if raw is None:
        return None
    if not _whole(raw) or int(raw) < 1:
        raise BadRequest(f"version must be a positive whole number, not {raw[:64]!r}")
    return int(raw)


@route("create_workflow", Role.AUTHOR)
def create_workflow(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    body = parse_model(workflows.WorkflowCreate, parse_json(request))
    book = _book(key, body.slug)
    workflow, version = workflows.create_workflow(
        wiring.repositories(),
        key.org_id,
        body,
        book=book,
        as_role=key.role,
        by=_by(key, "create_workflow"),
    )
    location = f"/v1/orgs/{key.org_id}/workflows/{workflow.slug}"
    return json_response(workflow_view(workflow, version), 201, {"Location": location})


@route("update_workflow", Role.AUTHOR)
def update_workflow(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    data = parse_json(request)
    if isinstance(data, dict) and data.get("slug", args["slug"]) != args["slug"]:
        raise BadRequest("the body's slug differs from the URL's; a workflow's slug cannot change")
    if isinstance(data, dict):
        data.pop("slug", None)
    body = parse_model(workflows.WorkflowSpec, data)
    workflow, version = workflows.update_workflow(
        wiring.repositories(),
        key.org_id,
        args["slug"],
        body,
        book=_book(key, args["slug"]),
        as_role=key.role,
        by=_by(key, "update_workflow"),
    )
    return json_response(workflow_view(workflow, version))


def _book(key: ApiKey, slug: str) -> resources.ResourceBook:
    return resources.ResourceBook(wiring.repositories(), wiring.blob_store(), key.org_id, slug)


@route("upload_resource", Role.AUTHOR)
def upload_resource(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    """multipart: `file`, and `name` (default: the file's name). Replacing a resource the
    latest version uses saves a new version pinned to the new content."""
    incoming = read_upload(request, resources.MAX_RESOURCE_BYTES)
    name = request.form.get("name") or incoming.filename or ""
    resource, version = resources.upload_and_repin(
        wiring.repositories(),
        wiring.blob_store(),
        get_settings(),
        key.org_id,
        args["slug"],
        name,
        incoming.data,
        incoming.content_type,
        by=_by(key, "upload_resource"),
    )
    body = {**resource_view(resource), "new_version": version.version if version else None}
    location = f"/v1/orgs/{key.org_id}/workflows/{args['slug']}/resources/{resource.name}"
    return json_response(body, 201, {"Location": location})


@route("list_resources", Role.VIEWER)
def list_resources(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    listed = queries.resources(wiring.repositories(), key.org_id, args["slug"])
    items = [resource_view(r) for r in listed]
    return json_response({"items": items})


@route("delete_resource", Role.AUTHOR)
def delete_resource(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    by = _by(key, "delete_resource")
    resources.remove(wiring.repositories(), key.org_id, args["slug"], args["name"], by)
    return Response(status=204)


@route("list_workflows", Role.VIEWER)
def list_workflows(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    listed = queries.workflows(wiring.repositories(), key.org_id)
    items = [workflow_view(w, version) for w, version in listed]
    return json_response({"items": items})


@route("get_workflow", Role.VIEWER)
def get_workflow(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    # Parsed once the workflow is found: a missing one is a 404 whatever its ?version.
    workflow, version = queries.workflow(
        wiring.repositories(), key.org_id, args["slug"], lambda: _version_arg(request)
    )
    return json_response(workflow_view(workflow, version))


@route("submit", Role.SUBMITTER)
def submit_run(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    received = time.monotonic()  # Prefer: wait counts from here (RFC 7240)
    settings = get_settings()
    incoming = read_upload(request, settings.max_upload_bytes)
    repos = wiring.repositories()
    result = submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        settings,
        key=key,
        slug=args["slug"],
        incoming=incoming,
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        # A new run within the org's limits (0029): 429 at its runs in flight; over its
        # inline checks on this instance, the job path. A replay is answered before.
        admitted=lambda: wiring.admission().submission(repos, settings, key.org_id),
    )
    run, headers = result.run, {"Location": f"/v1/orgs/{key.org_id}/runs/{result.run.id}"}
    wait = prefer_wait(request.headers.get("Prefer"))
    if wait is not None:
        run = _wait(key, run, wait, received, headers)
    body = {
        "run": run_view(run, result.submission),
        "submission": submission_view(result.submission),
    }
    # 200 with the finished run when the client waited for it; else accepted, in progress.
    return json_response(body, 200 if wait is not None and run.terminal else 202, headers)


def _wait(
    key: ApiKey, run: ValidationRun, seconds: int, since: float, headers: dict[str, str]
) -> ValidationRun:
    """The run once it ends within `seconds`, when the org has a wait to spare on this
    instance; else the run as it is, at once, the preference not applied (0029)."""
    with wiring.admission().waiting(key.org_id) as granted:
        if not (granted or run.terminal):
            return run
        run = runs.wait_for_end(wiring.repositories(), key.org_id, run, seconds, since=since)
    headers["Preference-Applied"] = f"wait={min(seconds, runs.MAX_WAIT_SECONDS)}"
    return run


class RerunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    # Who asks, when the client acts for a person; else the API key is the caller.
    user: str | None = Field(default=None, min_length=1, max_length=200)


@route("cancel_run", Role.SUBMITTER)
def cancel_run(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    repos = wiring.repositories()
    by = _by(key, "cancel_run")
    run = runs.cancel_run(
        repos, wiring.task_queue(), get_settings(), key.org_id, args["run"], caller=key, by=by
    )
    return json_response(_run_view(queries.with_submission(repos, run)))


@route("rerun", Role.SUBMITTER)
def rerun(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    raw = read_body(request)
    body = parse_model(RerunRequest, loads(raw) if raw else {})
    repos, settings = wiring.repositories(), get_settings()
    with wiring.admission().submission(repos, settings, key.org_id):  # 429 at the limit
        run, submission = runs.rerun(
            repos,
            wiring.task_queue(),
            settings,
            key.org_id,
            args["submission"],
            body.user or f"api-key:{key.id}",
            caller=key,
            by=_by(key, "rerun"),
        )
    payload = {"run": run_view(run, submission), "submission": submission_view(submission)}
    return json_response(payload, 202, {"Location": f"/v1/orgs/{key.org_id}/runs/{run.id}"})


def _status_arg(request: Request) -> str | None:
    raw = request.args.get("status") or None
    if raw is not None and raw.upper() not in RunStatus.__members__:
        allowed = ", ".join(RunStatus)
        raise BadRequest(f"status must be one of {allowed}, not {raw[:64]!r}")
    return raw.upper() if raw else None


def _workflow_arg(request: Request) -> str | None:
    raw = request.args.get("workflow") or None
    if raw is not None and re.fullmatch(workflows.SLUG, raw) is None:
        raise BadRequest(f"workflow must be a workflow slug, not {raw[:64]!r}")
    return raw


@route("list_validators", Role.VIEWER)
def list_validators(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    return json_response({"items": [_validator_view(spec) for spec in queries.validators()]})


def _validator_view(spec: ValidatorSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "version": spec.version,
        "file_types": sorted(spec.file_types),
        "config_schema": spec.config_schema,
    }


@route("list_runs", Role.VIEWER)
def list_runs(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    where = queries.RunFilter(
        status=_status_arg(request),
        workflow=_workflow_arg(request),
        limit=_limit(request, 50, 200),
        page_token=request.args.get("page_token") or None,
    )
    page = queries.runs(wiring.repositories(), key.org_id, where)
    items = [_run_view(row) for row in page.items]
    return json_response({"items": items, "next_page_token": page.next_page_token})


@route("get_run", Role.VIEWER)
def get_run(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    return json_response(_run_view(queries.run(wiring.repositories(), key.org_id, args["run"])))


def _run_view(row: queries.RunRow) -> dict[str, Any]:
    return run_view(row.run, row.submission)


@route("list_findings", Role.VIEWER)
def list_findings(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    severity = request.args.get("severity") or None
    if severity is not None and severity.upper() not in ("ERROR", "WARNING", "INFO"):
        raise BadRequest(f"severity must be ERROR, WARNING or INFO, not {severity!r}")
    page = queries.findings(
        wiring.repositories(),
        key.org_id,
        args["run"],
        severity=severity.upper() if severity else None,
        limit=_limit(request, 100, 1000),
        page_token=request.args.get("page_token") or None,
    )
    return json_response(
        {"items": [finding_view(f) for f in page.items], "next_page_token": page.next_page_token}
    )


@route("enable_badge", Role.AUTHOR)
def enable_badge(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.api.badges import enabled_view
    from shared.services import badges

    by = _by(key, "enable_badge")
    badge, created = badges.enable(wiring.repositories(), key.org_id, args["slug"], by)
    view = enabled_view(request, badges.path_of(badge), created)
    return json_response(view, 201 if created else 200, {"Cache-Control": "no-store"})


@route("disable_badge", Role.AUTHOR)
def disable_badge(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.services import badges

    badges.disable(wiring.repositories(), key.org_id, args["slug"], _by(key, "disable_badge"))
    return Response(status=204)


def _badge(request: Request, segment: str) -> Response:
    """A workflow's status badge, for anyone holding its URL. Only a miss is charged to
    the address (a guess costs a read; a CDN fetching real badges is never limited)."""
    from shared.api.badges import badge_response, token_of
    from shared.services import badges

    wiring.anonymous_limiter().check(_address(request))
    try:
        shown = badges.shown(wiring.repositories(), token_of(segment) or "")
    except NotFound:
        _count_anonymous(request)
        raise
    return badge_response(request, shown)


@route("get_run_evidence", Role.VIEWER)
def get_run_evidence(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.services import evidence

    found = evidence.manifest(wiring.repositories(), key.org_id, args["run"])
    return json_response(found.model_dump(mode="json"))


@route("get_credential", Role.VIEWER)
def get_credential(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.services import credentials

    issued = credentials.credential(wiring.repositories(), get_settings(), key.org_id, args["run"])
    return json_response({"credential": issued}, headers={"Cache-Control": "private"})


@route("get_submission", Role.VIEWER)
def get_submission(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    submission = queries.submission(wiring.repositories(), key.org_id, args["submission"])
    return json_response(submission_view(submission))


@route("grant_upload", Role.SUBMITTER)
def grant_upload(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    """A signed URL to PUT one file of up to 5 GiB into the uploads bucket; the upload
    trigger submits it. Send exactly the returned headers."""
    from shared.services import upload_urls

    body = parse_model(upload_urls.UploadUrlRequest, parse_json(request))
    grant = upload_urls.grant_upload(
        wiring.repositories(), get_settings(), wiring.upload_signer(), key, args["slug"], body
    )
    status = f"/v1/orgs/{key.org_id}/uploads/{grant.upload_id}"
    return json_response(grant_view(grant) | {"status_url": status}, 201, {"Location": status})


@route("get_granted_upload", Role.VIEWER)
def get_granted_upload(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    """What the upload trigger made of a signed-URL upload; 404 until it has seen it."""
    event = queries.granted_upload(wiring.repositories(), key.org_id, args["upload"])
    return json_response(upload_view(event))


@route("get_upload", Role.VIEWER)
def get_upload(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    """What the upload trigger made of one object generation; 404 until it has seen it."""
    raw = request.args.get("generation", "")
    if not _whole(raw):
        raise BadRequest(f"generation must be the object's generation number, not {raw[:64]!r}")
    event = queries.upload(
        wiring.repositories(),
        get_settings(),
        key.org_id,
        args["slug"],
        args["filename"],
        int(raw),
    )
    return json_response(upload_view(event))


@route("list_audit", Role.ADMIN)
def list_audit(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    raw = request.args.get("action") or None
    try:
        action = AuditAction(raw) if raw else None
    except ValueError:
        allowed = ", ".join(AuditAction)
        raise BadRequest(f"action must be one of {allowed}, not {(raw or '')[:64]!r}") from None
    page = audit.entries(
        wiring.repositories(),
        key.org_id,
        action=action,
        limit=_limit(request, 50, 200),
        page_token=request.args.get("page_token") or None,
    )
    items = [audit_view(e) for e in page.items]
    return json_response({"items": items, "next_page_token": page.next_page_token})


# Webhooks (decision record 0087): an org's admins' alone, as they send every run's
# results out of Assay and their secrets sign in the org's name.
@route("create_webhook", Role.ADMIN)
def create_webhook(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.api.webhook_views import WebhookRequest, webhook_view
    from shared.services import webhooks

    body = parse_model(WebhookRequest, parse_json(request))
    by = _by(key, "create_webhook")
    hook, secret = webhooks.create(
        wiring.repositories(), get_settings(), key.org_id, body.url, body.events, by
    )
    return json_response(webhook_view(hook, secret), 201, {"Cache-Control": "no-store"})


@route("list_webhooks", Role.ADMIN)
def list_webhooks(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.api.webhook_views import webhook_view
    from shared.services import webhooks

    hooks = webhooks.listed(wiring.repositories(), key.org_id)
    return json_response({"items": [webhook_view(h) for h in hooks]})


@route("delete_webhook", Role.ADMIN)
def delete_webhook(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.services import webhooks

    by = _by(key, "delete_webhook")
    webhooks.delete(wiring.repositories(), key.org_id, args["webhook"], by)
    return Response(status=204)


@route("rotate_webhook", Role.ADMIN)
def rotate_webhook(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.api.webhook_views import webhook_view
    from shared.services import webhooks

    by = _by(key, "rotate_webhook")
    hook, secret = webhooks.rotate(wiring.repositories(), key.org_id, args["webhook"], by)
    return json_response(webhook_view(hook, secret), headers={"Cache-Control": "no-store"})


@route("list_webhook_deliveries", Role.ADMIN)
def list_webhook_deliveries(request: Request, key: ApiKey, args: dict[str, str]) -> Response:
    from shared.api.webhook_views import attempt_view
    from shared.services import webhooks

    found = webhooks.attempts(
        wiring.repositories(), key.org_id, args["webhook"], _limit(request, 50, 200)
    )
    return json_response({"items": [attempt_view(a) for a in found]})


@cache
def _templates() -> dict[str, str]:
    """Each endpoint's method and path template, as the audit log names a route."""
    named = {}
    for rule in URLS.iter_rules():
        method = next(m for m in sorted(rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
        named[str(rule.endpoint)] = f"{method} {rule.rule.replace('<', '{').replace('>', '}')}"
    return named


def _by(key: ApiKey, endpoint: str) -> audit.By:
    """Who is changing something, and through which route, for the audit log."""
    return audit.By(audit.Actor.key(key.id), _templates()[endpoint])


@cache
def _contract() -> str:
    from shared.api.openapi import rendered

    return rendered(ROLES)


def _jwks() -> Response:
    """Every key that ever signed a credential (decision record 0086). A new key is
    added when it first signs, so caches keep the set only minutes."""
    from shared.services import credentials

    keys = credentials.jwks(wiring.repositories())
    return json_response(keys, headers={"Cache-Control": "public, max-age=300"})


@guarded
def handle(request: Request) -> Response:
    try:
        rule, args = URLS.bind_to_environ(request.environ).match(return_rule=True)
    except RouteNotFound:
        _count_anonymous(request)
        return problem(404, "Not found", f"there is no route {request.path!r}")
    except MethodNotAllowed as exc:
        _count_anonymous(request)
        allowed = ", ".join(exc.valid_methods or [])
        return problem(
            405,
            "Method not allowed",
            f"{request.method} is not allowed here; use {allowed}",
            {"Allow": allowed},
        )
    endpoint = rule.endpoint
    if endpoint == "health":
        return json_response({"status": "ok"})
    if endpoint == "openapi":
        _count_anonymous(request)
        return Response(_contract(), mimetype="application/json")
    if endpoint == "jwks":
        _count_anonymous(request)
        return _jwks()
    if endpoint == "badge":
        return _badge(request, str(args["badge"]))
    key = _authenticate(request)
    wiring.rate_limiter().take(key.id)
    if "org" in args and key.org_id != args["org"]:
        # Another org's objects are indistinguishable from missing ones.
        raise NotFound(f"organization {args['org'][:64]!r} does not exist or is not yours")
    checked = {k: str(v) for k, v in args.items()}
    _check_path(checked)
    # After tenancy: another org's objects stay 404s, whatever this key's role.
    where = rule.rule.replace("<", "{").replace(">", "}")
    require(key.role, ROLES[endpoint], f"{endpoint} ({request.method} {where})")
    return ROUTES[endpoint](request, key, checked)


# Keys that authenticated here lately pass the address gate below (0029).
_KNOWN = KnownKeys()


def _authenticate(request: Request) -> ApiKey:
    """The request's key. An address past its budget of failures is refused before the
    key is read (429, no Firestore read for a guess), unless the header authenticated
    here lately; only a failure is charged to the address, never a valid key."""
    authorization = request.headers.get("Authorization")
    if not _KNOWN.recent(authorization):
        wiring.anonymous_limiter().check(_address(request))
    try:
        key = authenticate(wiring.repositories(), authorization)
    except Unauthorized:
        _count_anonymous(request)  # past its address's limit: 429, not 401
        raise
    _KNOWN.add(authorization or "")
    return key


def _address(request: Request) -> str:
    """The client's address: the one Google's front end appended to X-Forwarded-For."""
    forwarded, hops = request.headers.get("X-Forwarded-For"), get_settings().forwarded_hops
    return client_address(forwarded, request.remote_addr, hops)


def _count_anonymous(request: Request) -> None:
    """A request without a valid key, counted against its client's address (0029)."""
    wiring.anonymous_limiter().take(_address(request))


_PATH_SHAPES: dict[str, tuple[Callable[[str], bool], str]] = {
    "run": (is_new_id, "run"),
    "submission": (is_new_id, "submission"),
    "webhook": (is_new_id, "webhook"),
    "slug": (lambda v: re.fullmatch(workflows.SLUG, v) is not None, "workflow"),
}


def _check_path(args: dict[str, str]) -> None:
    """An id that is not the shape of one never reaches Firestore: it names nothing."""
    for name, value in args.items():
        shape = _PATH_SHAPES.get(name)
        if shape is not None and not shape[0](value):
            raise NotFound(f"there is no {shape[1]} {value[:64]!r}")
