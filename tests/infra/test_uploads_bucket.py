"""The uploads bucket (infra/storage.tf): a drop zone whose age rule deletes what no
run claimed and nothing a run reads; uniform access, no public access; roles only for
Assay's own identities, granted additively, so `assay admin uploaders` bindings survive
an apply (decision record 0025). Each rule is also run on a copy with a fault in it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.services import uploads
from tests.infra import terraform_rules as rules

INFRA = rules.ROOT / "infra"
UPLOADS = 'google_storage_bucket.unit["uploads"].name'
AUTHORITATIVE = ("google_storage_bucket_iam_policy", "google_storage_bucket_iam_binding")
ASSAY_MEMBER = re.compile(r'serviceAccount:\$\{google_service_account\.identity\["\w+"\]\.email\}')


def _age_rules(infra: rules.Infra) -> list[tuple[str, Any]]:
    """(for_each, age) of each Delete rule made by a dynamic lifecycle_rule block."""
    found = []
    for dynamic in infra.resource("google_storage_bucket", "unit").get("dynamic", []):
        rule = dynamic.get("lifecycle_rule")
        if not rule:
            continue
        for content in rule.get("content", []):
            condition = rules._one(content.get("condition"))
            if rules._one(content.get("action")).get("type") == "Delete" and "age" in condition:
                found.append((str(rule.get("for_each", "")), condition["age"]))
    return found


def check_uploads_bucket(infra: rules.Infra) -> list[str]:
    problems = []
    age_rules = _age_rules(infra)
    if len(age_rules) != 1:
        problems.append(f"expected one age rule for unclaimed uploads, found {len(age_rules)}")
    for for_each, age in age_rules:
        # Only the uploads bucket: an age rule on content would cut retention short.
        if not re.fullmatch(r'\$\{each\.key == "uploads" \? \[[^\]]+\] : \[\]\}', for_each):
            problems.append(f"the age rule is not the uploads bucket's alone: {for_each}")
        days = infra.locals.get("unclaimed_upload_days") if "local.unclaimed" in for_each else None
        if not isinstance(days, int) or not 2 <= days <= 7:
            problems.append(f"unclaimed uploads are kept {days!r} days, not 2 to 7")
        if age != "${lifecycle_rule.value}":
            problems.append(f"the age rule's age is {age!r}")
    bucket = infra.resource("google_storage_bucket", "unit")
    if bucket.get("uniform_bucket_level_access") is not True:
        problems.append("the uploads bucket lacks uniform bucket-level access")
    if bucket.get("public_access_prevention") != "enforced":
        problems.append("the uploads bucket does not enforce public access prevention")
    for rtype in AUTHORITATIVE:
        for name in infra.resources.get(rtype, {}):
            problems.append(f"{rtype}.{name} is authoritative: it would wipe uploader bindings")
    members = infra.resources.get("google_storage_bucket_iam_member", {})
    for name, body in members.items():
        on_uploads = UPLOADS in str(body.get("bucket"))
        if on_uploads and not ASSAY_MEMBER.fullmatch(str(body.get("member"))):
            problems.append(
                f"google_storage_bucket_iam_member.{name} grants {body.get('member')} on uploads"
            )
    return problems


def test_the_committed_uploads_bucket_holds_every_rule() -> None:
    assert check_uploads_bucket(rules.Infra.load(INFRA)) == []


def test_the_claimed_file_lives_outside_the_bucket_the_age_rule_empties() -> None:
    # What makes the age rule safe: the trigger copies what it accepts to content.
    assert "copied into the content location" in (uploads.__doc__ or "")


FAULTS = {
    "age-on-every-bucket": (
        "? [local.unclaimed_upload_days] : []",
        "? [local.unclaimed_upload_days] : [local.unclaimed_upload_days]",
        "not the uploads bucket's alone",
    ),
    "no-age-rule": (
        'type = "Delete"\n      }\n    }\n  }',
        'type = "SetStorageClass"\n      }\n    }\n  }',
        "found 0",
    ),
    "too-short": ("unclaimed_upload_days = 2", "unclaimed_upload_days = 0", "kept 0 days"),
    "authoritative": (
        "# Who holds a role on the uploads bucket",
        'resource "google_storage_bucket_iam_policy" "uploads" {\n  bucket = "x"\n}\n#',
        "is authoritative",
    ),
    "public-writer": (
        "# Who holds a role on the uploads bucket",
        'resource "google_storage_bucket_iam_member" "anyone" {\n'
        '  bucket = google_storage_bucket.unit["uploads"].name\n'
        '  role   = "roles/storage.objectCreator"\n'
        '  member = "allUsers"\n}\n#',
        "grants allUsers on uploads",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_broken_copy_is_caught(tmp_path: Path, fault: str) -> None:
    old, new, words = FAULTS[fault]
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    text = (copy / "storage.tf").read_text()
    assert old in text, fault
    (copy / "storage.tf").write_text(text.replace(old, new, 1))
    problems = check_uploads_bucket(rules.Infra.load(copy))
    assert any(words in p for p in problems), problems
