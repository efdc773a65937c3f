"""`assay admin members`: an org's people, each a Google identity with a role (decision
record 0068). Like keys, managed here with database access; the audit log records
each change as made by the operator (`operator:<login>`), and so does a member's
`added_by`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from cli.output import emit, fail, out

if TYPE_CHECKING:
    from shared.domain.enums import Role
    from shared.persistence.ports import Repositories

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
org_option = click.option("--org", required=True, help="The organization's id.")
email_option = click.option("--email", required=True, help="The person's Google identity.")


def _role(raw: str) -> Role:
    from shared.domain.roles import parse_role

    try:
        return parse_role(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None


def _repos() -> Repositories:
    from shared import wiring

    return wiring.repositories()


def _view(member: Any) -> dict[str, Any]:
    return {
        "org_id": member.org_id,
        "email": member.email,
        "role": member.role.value,
        "added_at": member.added_at.isoformat(),
        "added_by": member.added_by,
    }


@click.group()
def members() -> None:
    """An org's members: Google identities, each with a role (as keys have)."""


@members.command("add")
@org_option
@email_option
@click.option(
    "--role",
    "role_name",
    default="viewer",
    show_default=True,
    help='viewer, submitter, author or admin (README "Roles").',
)
@json_option
def add(org: str, email: str, role_name: str, as_json: bool) -> None:
    """Make EMAIL a member of ORG with ROLE."""
    from shared.platform.errors import AssayError
    from shared.services.members import add_member

    role = _role(role_name)
    try:
        member = add_member(_repos(), org, email, role)
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    said = f"{member.email} is a member of {org} with role {member.role.value}"
    emit(as_json, {"member": _view(member)}, said)


@members.command("set-role")
@org_option
@email_option
@click.option("--role", "role_name", required=True, help="viewer, submitter, author or admin.")
@json_option
def set_role(org: str, email: str, role_name: str, as_json: bool) -> None:
    """Give member EMAIL of ORG another ROLE."""
    from shared.platform.errors import AssayError
    from shared.services.members import change_role

    role = _role(role_name)
    try:
        member = change_role(_repos(), org, email, role)
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    emit(as_json, {"member": _view(member)}, f"{member.email} now has role {member.role.value}")


@members.command("remove")
@org_option
@email_option
@json_option
def remove(org: str, email: str, as_json: bool) -> None:
    """Take EMAIL out of ORG (refused for the last admin while others remain)."""
    from shared.platform.errors import AssayError
    from shared.services.members import remove_member

    try:
        removed = remove_member(_repos(), org, email)
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    said = f"{email} is no longer a member of {org}" if removed else f"{email} was not one"
    emit(as_json, {"org_id": org, "email": email.strip().lower(), "removed": removed}, said)


@members.command("list")
@org_option
@json_option
def list_(org: str, as_json: bool) -> None:
    """ORG's members, by email."""
    from shared.platform.errors import AssayError
    from shared.services.members import list_members

    try:
        views = [_view(m) for m in list_members(_repos(), org)]
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    if as_json:
        emit(True, {"members": views})
        return
    table = Table("email", "role", "added", "added by")
    for view in views:
        table.add_row(view["email"], view["role"], view["added_at"], view["added_by"])
    out.print(table)
