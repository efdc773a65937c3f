"""Every bookkeeping collection has a Firestore TTL policy in the Terraform, on the field
its model sets; no record a user or the purge's audit relies on has one (decision
record 0028). Each rule also runs on a copy with one deliberate fault."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared.domain import models, webhooks
from shared.persistence import ports
from shared.persistence.firestore import badges as badge_documents
from shared.persistence.firestore import credentials as credential_documents
from shared.persistence.firestore import documents as collections
from shared.persistence.firestore import evidence as evidence_documents
from shared.persistence.firestore import webhooks as webhook_documents
from tests.infra.terraform_rules import ROOT, _unquote

INFRA = ROOT / "infra"

# Bookkeeping: a record that fences or de-duplicates a delivery, and means nothing once
# that delivery can no longer repeat. (collection, the field its TTL reads, its model)
BOOKKEEPING = {
    collections.CALLBACK_RECEIPTS: ("expire_at", models.CallbackReceipt),
    collections.UPLOAD_EVENTS: ("expire_at", models.UploadEvent),
    collections.IDEMPOTENCY_KEYS: ("expires_at", models.IdempotencyRecord),
    collections.UPLOAD_GRANTS: ("expire_at", None),  # written as a plain document
    collections.UPLOAD_URL_GRANTS: ("expire_at", ports.UploadGrant),
    # A webhook's delivery attempts: why deliveries failed lately (record 0087).
    webhook_documents.DELIVERIES: ("expire_at", webhooks.DeliveryAttempt),
}
# What must outlive any TTL: the user's records and their retention (the purge's), the
# purge's marks on them (its audit), and work still to do.
KEPT = {
    collections.ORGS,
    collections.PROJECTS,
    collections.API_KEYS,
    collections.WORKFLOWS,
    collections.VERSIONS,
    collections.SUBMISSIONS,
    collections.RUNS,
    collections.FINDINGS,
    collections.ARTIFACTS,
    collections.PURGE_RETRIES,
    collections.RESOURCES,
    collections.UPLOADERS,  # who may upload: configuration, not a trace of a delivery
    collections.AUDIT_LOG,  # who changed what: it outlives purges (record 0069)
    collections.MEMBERS,  # who belongs to an org: configuration, like uploaders
    webhook_documents.WEBHOOKS,  # an org's webhooks: configuration (record 0087)
    # A run's evidence, its credential and every key that signed one outlive purges and
    # stay verifiable (records 0085, 0086); a badge is configuration (0088).
    evidence_documents.EVIDENCE,
    credential_documents.CREDENTIALS,
    credential_documents.SIGNING_KEYS,
    badge_documents.BADGES,
    badge_documents.WORKFLOW_BADGES,
}


def _ttl_fields(infra: Path) -> dict[str, set[str]]:
    """collection -> the fields with a TTL policy, as firestore.tf deploys them: one
    `google_firestore_field` per field override, with a `ttl_config` when it says ttl."""
    tf = _unquote(hcl2.loads((infra / "firestore.tf").read_text()))
    fields = [r["google_firestore_field"] for r in tf["resource"] if "google_firestore_field" in r]
    (override,) = [body for resource in fields for body in resource.values()]
    dynamic = [d for d in override.get("dynamic", []) if "ttl_config" in d]
    assert dynamic, "google_firestore_field has no ttl_config: no TTL is deployed at all"
    assert "ttl" in str(dynamic[0]["ttl_config"]["for_each"])
    overrides = json.loads((infra / "firestore.indexes.json").read_text())["fieldOverrides"]
    found: dict[str, set[str]] = {}
    for entry in overrides:
        if entry.get("ttl"):
            found.setdefault(entry["collectionGroup"], set()).add(entry["fieldPath"])
    return found


def ttl_problems(infra: Path) -> list[str]:
    found = _ttl_fields(infra)
    problems = [
        f"{name}.{field} has no TTL policy"
        for name, (field, _) in BOOKKEEPING.items()
        if field not in found.get(name, set())
    ]
    problems += [f"{name} has a TTL policy: it is not bookkeeping" for name in KEPT & set(found)]
    problems += [f"{name} is not a known collection" for name in set(found) - set(BOOKKEEPING)]
    return problems


def test_every_bookkeeping_collection_expires_and_nothing_else_does() -> None:
    assert ttl_problems(INFRA) == []


def test_the_ttl_fields_are_the_ones_the_models_set() -> None:
    for name, (field, model) in BOOKKEEPING.items():
        if model is not None:
            assert field in model.model_fields, f"{model.__name__} has no {field} for {name}"


def _declared() -> set[str]:
    """Every collection name a Firestore persistence module declares (an upper-case
    constant)."""
    import importlib
    import pkgutil

    from shared.persistence import firestore

    names = set()
    for module in pkgutil.iter_modules(firestore.__path__):
        found = importlib.import_module(f"shared.persistence.firestore.{module.name}")
        names |= {
            value
            for name, value in vars(found).items()
            if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z_]+", value)
        }
    return names


def test_every_collection_is_either_bookkeeping_or_kept() -> None:
    assert _declared() - set(BOOKKEEPING) - KEPT == set(), "classify each new collection here"


def _override(folder: Path, change: Any) -> None:
    path = folder / "firestore.indexes.json"
    indexes = json.loads(path.read_text())
    change(indexes["fieldOverrides"])
    path.write_text(json.dumps(indexes))


def _without_receipts_ttl(overrides: list[dict[str, Any]]) -> None:
    overrides[:] = [o for o in overrides if o["collectionGroup"] != "callback_receipts"]


def _runs_expire(overrides: list[dict[str, Any]]) -> None:
    overrides.append({"collectionGroup": "runs", "fieldPath": "ended_at", "ttl": True})


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (_without_receipts_ttl, "callback_receipts.expire_at has no TTL policy"),
        (_runs_expire, "runs has a TTL policy: it is not bookkeeping"),
    ],
)
def test_a_broken_copy_is_caught(tmp_path: Path, fault: Any, problem: str) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    _override(copy, fault)
    assert problem in ttl_problems(copy)
