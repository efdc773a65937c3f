"""An org's uploaders: the Google identities that may write `{org}/…` objects in the
uploads bucket themselves (decision record 0025). Each is recorded in Firestore, where
the upload trigger looks (an org with none takes no object written directly), and is
a member of one conditional binding of the bucket's IAM policy per org:
`roles/storage.objectCreator` on names under `{org}/`, so Cloud Storage itself refuses
anyone else's write, and refuses an uploader's write under another org's folder.

A concurrent change of the policy fails the write (`shared/adapters/bucket_iam.py`),
and the change is made again on the new policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from shared.adapters.bucket_iam import POLICY_VERSION, BucketIam, Conflict
from shared.domain.enums import AuditAction
from shared.persistence.ports import Repositories, Uploader
from shared.platform.clock import Clock, utcnow
from shared.platform.errors import Unprocessable
from shared.services import audit, orgs

ROLE = "roles/storage.objectCreator"
ATTEMPTS = 5
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
MEMBER = re.compile(rf"(serviceAccount|user|group):{_EMAIL}|domain:[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def condition(bucket: str, org_id: str) -> dict[str, str]:
    return {
        "title": f"assay-uploaders-{org_id}"[:100],
        "description": f"Assay: objects in organization {org_id}'s upload folder",
        "expression": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{org_id}/")',
    }


def check_member(member: str) -> str:
    if not MEMBER.fullmatch(member):
        raise Unprocessable(
            f"{member[:200]!r} is not a Google identity: serviceAccount:NAME@PROJECT."
            "iam.gserviceaccount.com, user:EMAIL, group:EMAIL or domain:DOMAIN"
        )
    return member


def _apply(iam: BucketIam, change: Callable[[list[dict[str, Any]]], None]) -> None:
    for _ in range(ATTEMPTS):
        policy = iam.get()
        policy.version = POLICY_VERSION
        change(policy.bindings)
        try:
            iam.set(policy)
        except Conflict:
            continue
        return
    raise RuntimeError(f"the bucket's IAM policy kept changing ({ATTEMPTS} attempts)")


def _binding(bindings: list[dict[str, Any]], wanted: dict[str, str]) -> dict[str, Any] | None:
    return next(
        (b for b in bindings if b.get("role") == ROLE and b.get("condition") == wanted), None
    )


def grant_in_policy(iam: BucketIam, bucket: str, org_id: str, member: str) -> None:
    wanted = condition(bucket, org_id)

    def change(bindings: list[dict[str, Any]]) -> None:
        found = _binding(bindings, wanted)
        if found is None:
            bindings.append({"role": ROLE, "members": {member}, "condition": wanted})
        else:
            found["members"] = set(found.get("members") or ()) | {member}

    _apply(iam, change)


def revoke_in_policy(iam: BucketIam, bucket: str, org_id: str, member: str) -> None:
    wanted = condition(bucket, org_id)

    def change(bindings: list[dict[str, Any]]) -> None:
        found = _binding(bindings, wanted)
        if found is None:
            return
        found["members"] = set(found.get("members") or ()) - {member}
        if not found["members"]:
            bindings.remove(found)

    _apply(iam, change)


def add_uploader(
    repos: Repositories,
    iam: BucketIam,
    bucket: str,
    org_id: str,
    member: str,
    now: Clock = utcnow,
    *,
    by: audit.By | None = None,
) -> Uploader:
    """Records the uploader and puts it in the policy; adding one again repairs the
    policy (a run that stopped between the two), and is no change to the audit log."""
    orgs.require(repos, org_id)
    uploader = Uploader(org_id=org_id, member=check_member(member), created_at=now())
    added = repos.uploads.add_uploader(uploader)
    grant_in_policy(iam, bucket, org_id, member)
    if added:
        by = by or audit.By.operator("cli: assay admin uploaders add")
        action, target = AuditAction.UPLOADER_ADDED, f"uploader:{member}"
        audit.record(repos, org_id, by.actor, action, target, by.route, at=uploader.created_at)
    return uploader


def remove_uploader(
    repos: Repositories,
    iam: BucketIam,
    bucket: str,
    org_id: str,
    member: str,
    *,
    by: audit.By | None = None,
) -> bool:
    """Takes the uploader out of the policy first (its writes stop), then the record.
    False when it was not an uploader of the org."""
    orgs.require(repos, org_id)
    revoke_in_policy(iam, bucket, org_id, check_member(member))
    removed = repos.uploads.remove_uploader(org_id, member)
    if removed:
        by = by or audit.By.operator("cli: assay admin uploaders remove")
        action, target = AuditAction.UPLOADER_REMOVED, f"uploader:{member}"
        audit.record(repos, org_id, by.actor, action, target, by.route)
    return removed


def list_uploaders(repos: Repositories, org_id: str) -> list[Uploader]:
    orgs.require(repos, org_id)
    return repos.uploads.uploaders(org_id)
