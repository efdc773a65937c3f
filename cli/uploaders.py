"""`assay admin uploaders`: who may write an org's objects into the uploads bucket
themselves (decision record 0025). Each change goes to Firestore, which the upload
trigger reads, and to the bucket's IAM policy, which Cloud Storage enforces; in the
cloud with application-default credentials, on `make up` through
ASSAY_STORAGE_IAM_ENDPOINT to the local stand-in.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from cli.output import emit, fail, out

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
org_option = click.option("--org", required=True, help="The organization's id.")


def _context(as_json: bool) -> tuple[Any, Any, str]:
    from shared import wiring

    policy = wiring.uploads_bucket_iam()
    if policy is None:
        fail(
            as_json,
            "ASSAY_UPLOADS_URI is not a gs:// bucket (nor is ASSAY_STORAGE_IAM_ENDPOINT set)",
        )
    iam, bucket = policy
    return wiring.repositories(), iam, bucket


def _view(uploader: Any) -> dict[str, Any]:
    return {
        "org_id": uploader.org_id,
        "member": uploader.member,
        "created_at": uploader.created_at.isoformat(),
    }


@click.group()
def uploaders() -> None:
    """Who may write an org's objects into the uploads bucket directly."""


@uploaders.command("add")
@org_option
@click.argument("member")
@json_option
def add(org: str, member: str, as_json: bool) -> None:
    """Let MEMBER (serviceAccount:…, user:…, group:…, domain:…) write ORG/… objects."""
    from shared.platform.errors import AssayError
    from shared.services.uploaders import add_uploader

    repos, iam, bucket = _context(as_json)
    try:
        uploader = add_uploader(repos, iam, bucket, org, member)
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    emit(as_json, {"uploader": _view(uploader)}, f"{member} may upload for {org}")


@uploaders.command("remove")
@org_option
@click.argument("member")
@json_option
def remove(org: str, member: str, as_json: bool) -> None:
    """Take MEMBER's right to write ORG/… objects away (policy first, then the record)."""
    from shared.platform.errors import AssayError
    from shared.services.uploaders import remove_uploader

    repos, iam, bucket = _context(as_json)
    try:
        removed = remove_uploader(repos, iam, bucket, org, member)
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    said = f"{member} may no longer upload for {org}" if removed else f"{member} was not one"
    emit(as_json, {"org_id": org, "member": member, "removed": removed}, said)


@uploaders.command("list")
@org_option
@json_option
def list_(org: str, as_json: bool) -> None:
    """ORG's uploaders."""
    from shared import wiring
    from shared.platform.errors import AssayError
    from shared.services.uploaders import list_uploaders

    try:
        views = [_view(u) for u in list_uploaders(wiring.repositories(), org)]
    except AssayError as exc:
        fail(as_json, exc.detail, 2)
    if as_json:
        emit(True, {"uploaders": views})
        return
    table = Table("member", "added")
    for view in views:
        table.add_row(view["member"], view["created_at"])
    out.print(table)
