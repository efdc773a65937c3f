"""Submitted content never enters Firestore (decision record 0027): a small UTF-8 file on
the job path is a storage object under every policy, a DO_NOT_STORE file the fast path
hands over to the job path is one too, and a record made before, with its content
inline, is still copied for its job and purged. Against the Firestore emulator, file
storage and the real services."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.adapters.storage.local import path_of
from shared.api.auth.api_keys import issue_key
from shared.domain.enums import Execution, RetentionPolicy
from shared.platform.config import get_settings
from shared.services import workflows
from shared.services.launches import _copy_into_bundle
from shared.services.purge import PurgeOutcome, purge_content
from shared.services.submissions import IncomingFile, Submitted, submit
from tests.factories import every_document, make_org, workflow_body
from tests.integration.test_auto_handover import HANGS, STUCK
from tests.integration.test_auto_handover import budget as budget
from tests.integration.test_retention import finish

POLICIES = [p.value for p in RetentionPolicy]


@pytest.fixture
def org(repos: Any, dispatcher: Any) -> str:
    wiring.reset()
    org_id, _ = make_org(wiring.repositories())
    return org_id


def _workflow(org_id: str, policy: str, steps: Any = None, **extra: Any) -> None:
    body = workflow_body(retention={"submission": policy, "output": "STORE_30_DAYS"}, **extra)
    body["steps"] = steps or body["steps"]
    workflows.create_workflow(wiring.repositories(), org_id, workflows.WorkflowCreate(**body))


def _submit(org_id: str, data: bytes) -> Submitted:
    repos = wiring.repositories()
    key, _ = issue_key(repos, org_id, "k")
    incoming = IncomingFile(data, "p.json", "application/json")
    return submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=key,
        slug="people",
        incoming=incoming,
    )


def _carrying(db: Any, text: str) -> list[str]:
    return [
        s.reference.path for s in every_document(db) if text in json.dumps(s.to_dict(), default=str)
    ]


@pytest.mark.firestore
@pytest.mark.parametrize("policy", POLICIES)
def test_a_small_job_path_file_is_a_storage_object_under_every_policy(
    org: str, policy: str
) -> None:
    _workflow(org, policy)
    marker = f"marker-{uuid.uuid4().hex}"
    data = json.dumps({"name": marker}).encode()
    submitted = _submit(org, data)
    repos = wiring.repositories()
    raw = repos.document("submissions", submitted.submission.id).get().to_dict()
    assert raw.get("content") is None
    assert path_of(raw["input_file"]).read_bytes() == data
    assert _carrying(repos.db, marker) == []


@pytest.mark.firestore
def test_a_do_not_store_file_handed_over_to_the_job_path_is_a_storage_object(
    org: str, budget: None
) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": HANGS}}}
    steps = [{"name": "Schema", "validator": "json-schema", "config": {"schema": schema}}]
    _workflow(org, "DO_NOT_STORE", execution="auto", steps=steps)
    submitted = _submit(org, STUCK)
    assert submitted.run.execution is Execution.JOB  # handed over once the budget ran out
    repos = wiring.repositories()
    raw = repos.document("submissions", submitted.submission.id).get().to_dict()
    assert raw.get("content") is None and raw["content_purged_at"] is None
    assert path_of(raw["input_file"]).read_bytes() == STUCK
    assert _carrying(repos.db, "a" * 48) == []


@pytest.mark.firestore
def test_a_record_made_before_with_inline_content_is_still_launched_and_purged(
    org: str,
) -> None:
    _workflow(org, "DO_NOT_STORE")
    data = b'{"name": "Ada"}'
    submitted = _submit(org, data)
    # As such a record was written before: the content inline, no file.
    repos, store = wiring.repositories(), wiring.blob_store()
    ref = repos.document("submissions", submitted.submission.id)
    store.delete(ref.get().to_dict()["input_file"])
    ref.update({"content": data.decode(), "input_file": None})

    layout = Layout(get_settings().storage_uri)
    submission = repos.submissions.get(org, submitted.submission.id)
    copied = _copy_into_bundle(store, layout, submitted.run, submission)
    assert copied is not None and path_of(copied).read_bytes() == data

    finish(submitted.run)
    outcome = purge_content(repos, store, get_settings(), submitted.submission.id)
    assert outcome is PurgeOutcome.PURGED
    raw = ref.get().to_dict()
    assert not raw["content"] and raw["content_purged_at"] is not None
    assert not path_of(copied).exists()
