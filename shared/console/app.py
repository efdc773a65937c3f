"""The console's router: who is signed in, which org and role a page needs, CSRF, the
safety headers, and errors as pages. Each page lives in `pages/<module>.py`, is named
here by `module.function` and is imported on its first request; it declares the least
role it needs with `@page(Role.X)` (None: any signed-in person, no org)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any
from urllib.parse import urlsplit

from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response as BaseResponse

from shared import wiring
from shared.api.auth.iap import Person
from shared.api.http import problem
from shared.console import assets, people, security
from shared.console.render import render
from shared.domain.callers import MemberCaller
from shared.domain.enums import Role
from shared.domain.models import Member
from shared.persistence.ports import Repositories
from shared.platform import logs
from shared.platform.config import get_settings
from shared.platform.errors import AssayError, NotFound, PayloadTooLarge
from shared.services import audit

log = logging.getLogger(__name__)
# What a form carries besides its file: the CSRF token, a workflow, the multipart framing.
FORM_OVERHEAD = 64 * 1024

URLS = Map(
    [
        Rule("/", endpoint="home.orgs", methods=["GET"]),
        Rule("/orgs/<org>", endpoint="home.org", methods=["GET"]),
        Rule("/orgs/<org>/runs", endpoint="runs.list_runs", methods=["GET"]),
        Rule("/orgs/<org>/runs/<run>", endpoint="run.show", methods=["GET"]),
        Rule("/orgs/<org>/runs/<run>/status.json", endpoint="run.status", methods=["GET"]),
        Rule("/orgs/<org>/runs/<run>/evidence.json", endpoint="run.evidence_json", methods=["GET"]),
        Rule(
            "/orgs/<org>/runs/<run>/artifacts/<int:step>/<name>",
            endpoint="run.artifact",
            methods=["GET"],
        ),
        Rule("/orgs/<org>/runs/<run>/cancel", endpoint="run.cancel", methods=["POST"]),
        Rule("/orgs/<org>/runs/<run>/rerun", endpoint="run.rerun", methods=["POST"]),
        Rule("/orgs/<org>/settings", endpoint="settings.show", methods=["GET"]),
        Rule("/orgs/<org>/settings/members", endpoint="settings.add_member", methods=["POST"]),
        Rule("/orgs/<org>/settings/members/role", endpoint="settings.set_role", methods=["POST"]),
        Rule(
            "/orgs/<org>/settings/members/remove",
            endpoint="settings.remove_member",
            methods=["POST"],
        ),
        Rule("/orgs/<org>/settings/keys", endpoint="settings.create_key", methods=["POST"]),
        Rule(
            "/orgs/<org>/settings/keys/<key>/revoke",
            endpoint="settings.revoke_key",
            methods=["POST"],
        ),
        Rule("/orgs/<org>/settings/uploaders", endpoint="settings.add_uploader", methods=["POST"]),
        Rule(
            "/orgs/<org>/settings/uploaders/remove",
            endpoint="settings.remove_uploader",
            methods=["POST"],
        ),
        Rule("/orgs/<org>/audit", endpoint="audit.entries", methods=["GET"]),
        Rule("/orgs/<org>/submit", endpoint="submit.form", methods=["GET"]),
        Rule("/orgs/<org>/submit", endpoint="submit.send", methods=["POST"]),
        Rule("/orgs/<org>/submit/grant.json", endpoint="submit.grant", methods=["POST"]),
        Rule("/orgs/<org>/uploads/<upload>.json", endpoint="submit.upload", methods=["GET"]),
        Rule("/orgs/<org>/workflows", endpoint="workflows.list_workflows", methods=["GET"]),
        Rule("/orgs/<org>/workflows/<slug>", endpoint="workflows.show", methods=["GET"]),
        Rule("/orgs/<org>/workflows/<slug>", endpoint="workflows.edit", methods=["POST"]),
    ],
    strict_slashes=False,
    redirect_defaults=False,
)


@dataclass
class Context:
    """One request as a page sees it: the person, their membership of the page's org
    (None on pages outside an org), the path's arguments and the CSRF token to embed."""

    request: Request
    person: Person
    repos: Repositories
    args: dict[str, str]
    csrf: str
    member: Member | None = None
    rule: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        if self.member is None:
            raise NotFound("this page belongs to no organization")
        return self.member.org_id

    @property
    def role(self) -> Role | None:
        return self.member.role if self.member else None

    @property
    def caller(self) -> MemberCaller:
        """The member, as the services take whoever acts (a key or a member)."""
        if self.member is None:
            raise NotFound("this page belongs to no organization")
        return MemberCaller(self.member.org_id, self.person.email, self.member.role)

    @cached_property
    def orgs(self) -> list[str]:
        return self.repos.members.orgs_of(self.person.email)

    def allows(self, role: Role) -> bool:
        return self.member is not None and self.member.role.allows(role)

    def require(self, role: Role, action: str) -> None:
        """403 unless the member's role includes `role` (beyond the page's own)."""
        if self.member is None:
            raise NotFound("this page belongs to no organization")
        people.require_role(self.member, role, action)

    def by(self) -> audit.By:
        """The signed-in member, and the console route, as the audit log names them."""
        return audit.By(audit.Actor.member(self.person.email), f"console: {self.rule}")

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        body = render(template, ctx=self, **values)
        return Response(body, status=status, mimetype="text/html")

    def redirect(self, location: str) -> Response:
        """After a POST: the browser GETs the result (303 See Other)."""
        return Response(status=303, headers={"Location": location})


@dataclass(frozen=True)
class Page:
    fn: Callable[[Context], Response]
    role: Role | None


def page(role: Role | None) -> Callable[[Callable[[Context], Response]], Page]:
    def register(fn: Callable[[Context], Response]) -> Page:
        return Page(fn, role)

    return register


@cache
def _page(endpoint: str) -> Page:
    module, name = endpoint.rsplit(".", 1)
    found = getattr(importlib.import_module(f"shared.console.pages.{module}"), name)
    if not isinstance(found, Page):
        raise TypeError(f"{endpoint} is not a console page (decorate it with @page)")
    return found


def _connect_sources() -> tuple[str, ...]:
    """Where a page may send a file: the signed upload URL's origin."""
    endpoint = get_settings().signed_url_endpoint or "https://storage.googleapis.com"
    parts = urlsplit(endpoint)
    return (f"{parts.scheme}://{parts.netloc}",) if parts.netloc else ()


def _wants_json(request: Request) -> bool:
    return request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"


def _error(request: Request, error: AssayError, person: Person | None) -> Response:
    if _wants_json(request):
        return problem(error.status, error.title, error.detail, error.headers)
    body = render("error.html", ctx=None, person=person, error=error)
    return Response(body, status=error.status, mimetype="text/html", headers=error.headers)


def _serve(request: Request, token: str) -> Response:
    """The page the request asks for, or its error as a page."""
    person: Person | None = None
    try:
        person = people.signed_in(request)
        _bounded(request)
        security.check_csrf(request)
        rule, args = URLS.bind_to_environ(request.environ).match(return_rule=True)
        return _call(request, person, token, rule, {k: str(v) for k, v in args.items()})
    except RouteNotFound:
        return _error(request, NotFound(f"there is no page {request.path[:200]!r}"), person)
    except MethodNotAllowed as exc:
        allowed = ", ".join(exc.valid_methods or [])
        refused = _NotAllowed(f"{request.method} is not allowed here", headers={"Allow": allowed})
        return _error(request, refused, person)
    except AssayError as exc:
        return _error(request, exc, person)


class _LengthRequired(AssayError):
    status = 411
    title = "Length required"


def _bounded(request: Request) -> None:
    """A form is read (for its CSRF field) before any page looks at it, so its size is
    checked first: a form must say its length (browsers do), and stay within the
    largest file the console takes. A script's request carries its token in a header
    and is read by its page, within that page's own limit."""
    if request.method in security.SAFE_METHODS or request.headers.get(security.CSRF_HEADER):
        return
    length, most = request.content_length, get_settings().max_upload_bytes + FORM_OVERHEAD
    if length is None and "Transfer-Encoding" in request.headers:
        raise _LengthRequired("a form must be sent with its Content-Length")
    length = length or 0  # neither header: no body at all (RFC 9112, 6.3)
    if length > most:
        raise PayloadTooLarge(f"the request is {length} bytes; at most {most} are accepted")


class _NotAllowed(AssayError):
    status = 405
    title = "Method not allowed"


def _call(
    request: Request, person: Person, token: str, rule: Rule, args: dict[str, str]
) -> Response:
    repos = wiring.repositories()
    found = _page(str(rule.endpoint))
    ctx = Context(request, person, repos, args, token, rule=rule.rule)
    if "org" in args:
        ctx.member = people.member_of(repos, person, args["org"])
        if found.role is not None:
            people.require_role(ctx.member, found.role, f"this page ({request.path[:200]})")
    return found.fn(ctx)


def handle(request: Request) -> BaseResponse:
    logs.begin(request.headers)
    if request.path == "/healthz":
        return Response('{"status": "ok"}', mimetype="application/json")
    if request.path.startswith(assets.PREFIX):
        return assets.serve(request)
    token, new = security.csrf_token(request)
    try:
        response = _serve(request, token)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        response = _error(request, AssayError("an unexpected error occurred; it was logged"), None)
    csp = security.content_security_policy(_connect_sources())
    return security.secure(response, request, token, new, csp)
