"""Workflows, their versions, and their resources."""

from __future__ import annotations

from typing import Any

import pytest

from shared.platform.errors import AlreadyExists, NotFound
from tests.contract.builders import resource, store, version, workflow

pytestmark = pytest.mark.contract


def test_a_workflows_id_is_derived_from_org_and_slug(backend: Any) -> None:
    ids = backend.workflows
    assert ids.id_for("a", "people") == ids.id_for("a", "people")
    assert len({ids.id_for("a", "people"), ids.id_for("b", "people"), ids.id_for("a", "x")}) == 3


def test_two_creates_of_one_slug_collide(backend: Any) -> None:
    store(backend, workflow(backend, "a", "people"))
    with pytest.raises(AlreadyExists):
        store(backend, workflow(backend, "a", "people"))


def test_a_workflow_is_found_by_slug_and_another_orgs_is_not(backend: Any) -> None:
    flow = workflow(backend, "a", "people")
    store(backend, flow)
    assert backend.workflows.find("a", "people") == flow
    assert backend.workflows.get("a", "people") == flow
    assert backend.workflows.find("b", "people") is None
    assert backend.workflows.find("a", "nobody") is None
    with pytest.raises(NotFound):
        backend.workflows.get("b", "people")


def test_workflows_list_by_slug_and_only_the_orgs(backend: Any) -> None:
    store(backend, *(workflow(backend, "a", slug) for slug in ("c", "a", "b")))
    store(backend, workflow(backend, "b", "aa"))
    assert [w.slug for w in backend.workflows.all("a")] == ["a", "b", "c"]
    assert backend.workflows.all("nobody") == []


def test_the_latest_version_is_the_default_and_a_missing_one_is_not_found(backend: Any) -> None:
    flow = workflow(backend, "a", latest=2)
    store(backend, flow, version(flow, 1), version(flow, 2))
    assert backend.workflows.version(flow) == version(flow, 2)
    assert backend.workflows.version(flow, 1) == version(flow, 1)
    with pytest.raises(NotFound):
        backend.workflows.version(flow, 3)


def test_a_version_is_created_once(backend: Any) -> None:
    flow = workflow(backend, "a")
    store(backend, flow, version(flow, 1))
    with pytest.raises(AlreadyExists):
        store(backend, version(flow, 1))


def test_latest_versions_come_in_the_workflows_order(backend: Any) -> None:
    one, two = workflow(backend, "a", "one", latest=2), workflow(backend, "a", "two")
    store(backend, one, two, version(one, 1), version(one, 2), version(two, 1))
    assert backend.workflows.latest_versions([two, one]) == [version(two, 1), version(one, 2)]
    assert backend.workflows.latest_versions([]) == []


def test_latest_versions_of_a_workflow_without_it_is_not_found(backend: Any) -> None:
    one, two = workflow(backend, "a", "one"), workflow(backend, "a", "two", latest=2)
    store(backend, one, two, version(one, 1), version(two, 1))
    with pytest.raises(NotFound):
        backend.workflows.latest_versions([one, two])


def test_a_resource_is_saved_replaced_and_found(backend: Any) -> None:
    first = resource("a", "people", "schema.json")
    backend.resources.save(first)
    assert backend.resources.find("a", "people", "schema.json") == first
    second = first.model_copy(update={"sha256": "b" * 64, "size_bytes": 9})
    backend.resources.save(second)
    assert backend.resources.find("a", "people", "schema.json") == second
    assert backend.resources.find("b", "people", "schema.json") is None
    assert backend.resources.find("a", "other", "schema.json") is None


def test_resources_list_by_name_for_one_workflow_of_one_org(backend: Any) -> None:
    for name in ("c", "a", "b"):
        backend.resources.save(resource("a", "people", name))
    backend.resources.save(resource("a", "other", "aa"))
    backend.resources.save(resource("b", "people", "aa"))
    assert [r.name for r in backend.resources.all("a", "people")] == ["a", "b", "c"]


def test_deleting_a_resource_says_whether_there_was_one(backend: Any) -> None:
    backend.resources.save(resource("a", "people", "x"))
    assert backend.resources.delete("b", "people", "x") is False
    assert backend.resources.delete("a", "people", "x") is True
    assert backend.resources.delete("a", "people", "x") is False
    assert backend.resources.find("a", "people", "x") is None
