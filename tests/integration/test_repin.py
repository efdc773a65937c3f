"""Re-pinning (a resource the latest version uses changed) keeps every setting of the
version: one test per field of WorkflowVersion and of WorkflowStep, taken from the models
themselves, so a field added later is covered (and must be given a value here that is
not its default, or the fixture check fails and says so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic.fields import FieldInfo

from shared import wiring
from shared.domain.models import WorkflowStep, WorkflowVersion
from shared.platform.config import get_settings
from shared.services import resources, workflows
from tests.factories import make_org

ROOT = Path(__file__).resolve().parents[2]
XSD = (ROOT / "examples" / "order.xsd").read_bytes()
# The same schema with a different checksum: what the validators derive stays the same.
XSD_AGAIN = XSD + b"\n<!-- revised -->\n"
# What a re-pin may change; every other field is the old version's.
NEW_IN_A_REPIN = {"version", "created_at", "steps"}
STEP_PINS = {"resources"}
# Derived from the config and the pinned files, not set: checked equal, not non-default
# (no validator with resources derives an engine, and no XSD here draws a warning).
DERIVED = {"warnings", "engine"}


def _spec() -> workflows.WorkflowSpec:
    return workflows.WorkflowSpec.model_validate(
        {
            "name": "Orders, checked twice",
            "steps": [
                {
                    "key": "order-xsd",
                    "name": "Order schema",
                    "validator": "xml-schema",
                    "config": {"schema_type": "xsd", "schema_resource": "order.xsd"},
                    "timeout_seconds": 77,
                    "assertions": [
                        {"expr": "metrics.files == 1", "severity": "WARNING", "message": "one"}
                    ],
                },
                {
                    "key": "inline-xsd",
                    "name": "Same schema, inline",
                    "validator": "xml-schema",
                    "config": {"schema_type": "xsd", "schema": XSD.decode()},
                    "timeout_seconds": 1200,
                },
            ],
            "retention": {"submission": "STORE_1_DAY", "output": "DO_NOT_STORE"},
            "allowed_file_types": ["xml"],
            "execution": "job",
        }
    )


def _upload(repos: Any, org: str, name: str, data: bytes) -> None:
    store, settings = wiring.blob_store(), get_settings()
    resources.upload(repos, store, settings, org, "orders", name, data, "text/xml")


@pytest.fixture
def repinned(repos: Any) -> tuple[WorkflowVersion, WorkflowVersion]:
    """(the version before, the version a changed resource made)."""
    org, _ = make_org(repos)
    book = resources.ResourceBook(repos, wiring.blob_store(), org, "orders")
    seed = _spec().model_dump()
    seed["steps"] = seed["steps"][1:]
    workflows.create_workflow(
        repos, org, workflows.WorkflowCreate.model_validate({**seed, "slug": "orders"})
    )
    _upload(repos, org, "order.xsd", XSD)
    _, before = workflows.update_workflow(repos, org, "orders", _spec(), book=book)
    _upload(repos, org, "order.xsd", XSD_AGAIN)
    after = workflows.repin(repos, org, "orders", "order.xsd", book)
    assert after is not None
    assert repos.workflows.version(repos.workflows.get(org, "orders")) == after
    return before, after


def _has_default(info: FieldInfo) -> bool:
    return not info.is_required()


def _default(info: FieldInfo) -> Any:
    return info.get_default(call_default_factory=True)


@pytest.mark.parametrize("name", list(WorkflowVersion.model_fields))
def test_a_repin_keeps_each_field_of_the_version(
    repinned: tuple[WorkflowVersion, WorkflowVersion], name: str
) -> None:
    before, after = repinned
    info = WorkflowVersion.model_fields[name]
    if _has_default(info) and name not in DERIVED:
        assert getattr(before, name) != _default(info), (
            f"give WorkflowVersion.{name} a value other than its default in _spec(), so "
            "this test can tell a kept setting from a dropped one"
        )
    if name == "version":
        assert after.version == before.version + 1
    elif name == "created_at":
        assert after.created_at >= before.created_at
    elif name == "steps":
        assert [s.key for s in after.steps] == [s.key for s in before.steps]
    else:
        assert name not in NEW_IN_A_REPIN
        assert getattr(after, name) == getattr(before, name), name


@pytest.mark.parametrize("name", list(WorkflowStep.model_fields))
def test_a_repin_keeps_each_field_of_each_step(
    repinned: tuple[WorkflowVersion, WorkflowVersion], name: str
) -> None:
    before, after = repinned
    info = WorkflowStep.model_fields[name]
    if _has_default(info) and name not in DERIVED:
        assert any(getattr(s, name) != _default(info) for s in before.steps), (
            f"give WorkflowStep.{name} a value other than its default in _spec()"
        )
    for old, new in zip(before.steps, after.steps, strict=True):
        if name in STEP_PINS:
            continue
        assert getattr(new, name) == getattr(old, name), (old.key, name)


def test_a_repin_moves_only_the_changed_resource_pin(
    repinned: tuple[WorkflowVersion, WorkflowVersion],
) -> None:
    before, after = repinned
    (old_pin,) = before.steps[0].resources.values()
    (new_pin,) = after.steps[0].resources.values()
    assert old_pin.sha256 != new_pin.sha256 and new_pin.size_bytes == len(XSD_AGAIN)
    assert after.steps[1].resources == before.steps[1].resources == {}


def test_the_execution_setting_survives_a_repin(
    repinned: tuple[WorkflowVersion, WorkflowVersion],
) -> None:
    """The bug that was: a workflow set to `job` silently became `auto`."""
    before, after = repinned
    assert before.execution.value == after.execution.value == "job"


def test_a_resource_no_step_uses_makes_no_version(repos: Any) -> None:
    org, _ = make_org(repos)
    spec = _spec().model_dump()
    spec["steps"] = spec["steps"][1:]
    workflows.create_workflow(
        repos, org, workflows.WorkflowCreate.model_validate({**spec, "slug": "orders"})
    )
    _upload(repos, org, "other.xsd", XSD)
    book = resources.ResourceBook(repos, wiring.blob_store(), org, "orders")
    assert workflows.repin(repos, org, "orders", "other.xsd", book) is None
    assert repos.workflows.get(org, "orders").latest_version == 1
