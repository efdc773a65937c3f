"""An org's settings, for its admins: members and their roles, API keys, and the
identities that may upload directly. Every change goes through the service the command
line uses, so the same rules hold (an org keeps an admin member) and the audit log names
the member and the console's route.

After a change the browser is sent back to the page (303) with a notice. The notice is
one of a fixed set of sentences naming the object changed; the object's name is shown
only when it looks like one (an email, a key id, an IAM member), so a crafted link cannot
put a sentence of its own on an admin's page. A new key's secret is the one exception:
the page answering the POST shows it, once, and nothing stores or sends it again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlencode

from flask import Response

from shared import wiring
from shared.adapters.bucket_iam import BucketIam
from shared.api.auth import api_keys
from shared.console.app import Context, page
from shared.domain.enums import Role
from shared.domain.roles import parse_role
from shared.platform.clock import utcnow
from shared.platform.errors import (
    AssayError,
    BadRequest,
    Conflict,
    NotConfigured,
    NotFound,
    Unprocessable,
)
from shared.services import members, uploaders

NOTICES = {
    "member-added": "{subject} is now a member.",
    "member-role": "{subject} has a new role.",
    "member-removed": "{subject} is no longer a member.",
    "member-absent": "{subject} was not a member.",
    "key-revoked": "Key {subject} is revoked: requests with it are refused from now on.",
    "uploader-added": "{subject} may upload directly.",
    "uploader-removed": "{subject} may no longer upload directly.",
    "uploader-absent": "{subject} was not an uploader.",
}
_SUBJECT = re.compile(r"[A-Za-z0-9._%+@:-]{1,254}")
LIFETIMES = {
    "never": None,
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "365d": timedelta(days=365),
}
# The answers a form's mistake gets: the settings page again, saying what was wrong.
_REFUSALS = (BadRequest, NotFound, Conflict, Unprocessable, NotConfigured)


def _notice(ctx: Context) -> str | None:
    template = NOTICES.get(ctx.request.args.get("done", ""))
    if template is None:
        return None
    subject = ctx.request.args.get("subject", "")
    shown = subject if _SUBJECT.fullmatch(subject) else "It"
    return template.format(subject=shown)


def _back(ctx: Context, done: str, subject: str) -> Response:
    """To the settings page with a notice; elsewhere when the admin has just removed
    or demoted themselves (the settings page would now refuse them)."""
    me = ctx.repos.members.get(ctx.org_id, ctx.person.email)
    if me is None:
        return ctx.redirect("/")
    if not me.role.allows(Role.ADMIN):
        return ctx.redirect(f"/orgs/{ctx.org_id}/runs")
    query = urlencode({"done": done, "subject": subject})
    return ctx.redirect(f"/orgs/{ctx.org_id}/settings?{query}")


def _iam() -> tuple[BucketIam, str]:
    """The uploads bucket's IAM policy; NotConfigured where there is none (a folder)."""
    policy = wiring.uploads_bucket_iam()
    if policy is None:
        raise NotConfigured("direct uploads need the uploads bucket on Cloud Storage")
    return policy


def _uploads_configured() -> bool:
    return wiring.uploads_bucket_iam() is not None


def _show(ctx: Context, status: int = 200, **extra: object) -> Response:
    keys = sorted(api_keys.list_keys(ctx.repos, ctx.org_id), key=lambda k: k.created_at)
    direct = _uploads_configured()
    values: dict[str, object] = {
        "members": members.list_members(ctx.repos, ctx.org_id),
        "keys": list(reversed(keys)),
        "uploaders": uploaders.list_uploaders(ctx.repos, ctx.org_id) if direct else [],
        "direct_uploads": direct,
        "all_roles": list(Role),
        "lifetimes": list(LIFETIMES),
        "now": utcnow(),
        "notice": _notice(ctx),
        "problem": None,
        "secret": None,
    }
    return ctx.render("settings.html", status=status, **(values | extra))


def _refused(ctx: Context, error: AssayError) -> Response:
    return _show(ctx, status=error.status, problem=error.detail)


def _field(ctx: Context, name: str, most: int = 320) -> str:
    value = (ctx.request.form.get(name) or "").strip()
    if not value:
        raise Unprocessable(f"the form's {name!r} is empty")
    if len(value) > most:
        raise Unprocessable(f"the form's {name!r} is longer than {most} characters")
    return value


def _role(ctx: Context) -> Role:
    try:
        return parse_role(_field(ctx, "role", 32))
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None


def _lifetime(ctx: Context) -> timedelta | None:
    raw = ctx.request.form.get("expires_in") or "never"
    if raw not in LIFETIMES:
        raise Unprocessable(f"expires_in must be one of {', '.join(LIFETIMES)}, not {raw[:32]!r}")
    return LIFETIMES[raw]


@page(Role.ADMIN)
def show(ctx: Context) -> Response:
    return _show(ctx)


@page(Role.ADMIN)
def add_member(ctx: Context) -> Response:
    try:
        added = members.add_member(
            ctx.repos, ctx.org_id, _field(ctx, "email"), _role(ctx), by=ctx.by()
        )
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _back(ctx, "member-added", added.email)


@page(Role.ADMIN)
def set_role(ctx: Context) -> Response:
    try:
        changed = members.change_role(
            ctx.repos, ctx.org_id, _field(ctx, "email"), _role(ctx), by=ctx.by()
        )
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _back(ctx, "member-role", changed.email)


@page(Role.ADMIN)
def remove_member(ctx: Context) -> Response:
    try:
        email = _field(ctx, "email")
        removed = members.remove_member(ctx.repos, ctx.org_id, email, by=ctx.by())
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _back(ctx, "member-removed" if removed else "member-absent", email)


@page(Role.ADMIN)
def create_key(ctx: Context) -> Response:
    """The settings page with the new key's secret, shown this once (not redirected:
    a secret in a URL would stay in the browser's history)."""
    try:
        name, role, lifetime = _field(ctx, "name", 100), _role(ctx), _lifetime(ctx)
        expires_at = utcnow() + lifetime if lifetime else None
        key, secret = api_keys.issue_key(
            ctx.repos, ctx.org_id, name, expires_at=expires_at, role=role, by=ctx.by()
        )
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _show(ctx, status=201, secret=secret, created=key)


@page(Role.ADMIN)
def revoke_key(ctx: Context) -> Response:
    key_id = ctx.args["key"]
    try:
        api_keys.revoke_key(ctx.repos, ctx.org_id, key_id, by=ctx.by())
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _back(ctx, "key-revoked", key_id)


@contextmanager
def _policy_allowed() -> Iterator[None]:
    """Cloud Storage's refusal to let the console change the bucket's policy, said as
    what to do instead (record 0077: the console's identity may not be allowed to)."""
    from google.api_core.exceptions import Forbidden

    try:
        yield
    except Forbidden:
        raise NotConfigured(
            "the console may not change the uploads bucket's IAM policy here; "
            "use `assay admin uploaders`"
        ) from None


@page(Role.ADMIN)
def add_uploader(ctx: Context) -> Response:
    try:
        member = _field(ctx, "member")
        iam, bucket = _iam()
        with _policy_allowed():
            uploaders.add_uploader(ctx.repos, iam, bucket, ctx.org_id, member, by=ctx.by())
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _back(ctx, "uploader-added", member)


@page(Role.ADMIN)
def remove_uploader(ctx: Context) -> Response:
    try:
        member = _field(ctx, "member")
        iam, bucket = _iam()
        with _policy_allowed():
            removed = uploaders.remove_uploader(
                ctx.repos, iam, bucket, ctx.org_id, member, by=ctx.by()
            )
    except _REFUSALS as exc:
        return _refused(ctx, exc)
    return _back(ctx, "uploader-removed" if removed else "uploader-absent", member)
