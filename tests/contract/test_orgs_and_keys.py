"""Orgs, projects and API keys."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.models import Organization, Project
from shared.platform.errors import AlreadyExists, NotFound
from shared.platform.ids import new_id
from tests.contract.builders import T0, api_key, at

pytestmark = pytest.mark.contract


def test_an_org_reads_back_and_a_missing_one_is_none(backend: Any) -> None:
    org = Organization(id=new_id(), name="acme", created_at=T0)
    backend.orgs.create(org)
    assert backend.orgs.get(org.id) == org
    assert backend.orgs.get(new_id()) is None


def test_creating_an_org_twice_is_already_exists(backend: Any) -> None:
    org = Organization(id=new_id(), name="acme", created_at=T0)
    backend.orgs.create(org)
    with pytest.raises(AlreadyExists):
        backend.orgs.create(org.model_copy(update={"name": "other"}))
    assert backend.orgs.get(org.id) == org


def test_another_orgs_project_is_not_found(backend: Any) -> None:
    project = Project(id=new_id(), org_id="a", name="p", created_at=T0)
    backend.orgs.create_project(project)
    assert backend.orgs.get_project("a", project.id) == project
    with pytest.raises(NotFound):
        backend.orgs.get_project("b", project.id)
    with pytest.raises(NotFound):
        backend.orgs.get_project("a", new_id())


def test_creating_a_project_twice_is_already_exists(backend: Any) -> None:
    project = Project(id=new_id(), org_id="a", name="p", created_at=T0)
    backend.orgs.create_project(project)
    with pytest.raises(AlreadyExists):
        backend.orgs.create_project(project.model_copy(update={"name": "q"}))
    assert backend.orgs.get_project("a", project.id) == project


def test_a_key_reads_back_and_a_second_create_is_already_exists(backend: Any) -> None:
    key = api_key("a")
    backend.keys.create(key)
    assert backend.keys.get(key.id) == key
    assert backend.keys.get(new_id()) is None
    with pytest.raises(AlreadyExists):
        backend.keys.create(key)


def test_keys_list_oldest_first_and_only_the_orgs(backend: Any) -> None:
    keys = [api_key("a", minutes) for minutes in (3, 1, 2)]
    for key in keys:
        backend.keys.create(key)
    backend.keys.create(api_key("b", 0))
    listed = backend.keys.all("a")
    assert [k.id for k in listed] == [k.id for k in sorted(keys, key=lambda k: k.created_at)]


def test_saving_a_key_replaces_it(backend: Any) -> None:
    key = api_key("a")
    backend.keys.create(key)
    renamed = key.model_copy(update={"name": "renamed"})
    backend.keys.save(renamed)
    assert backend.keys.get(key.id) == renamed


def test_touching_a_key_sets_its_last_use(backend: Any) -> None:
    key = api_key("a")
    backend.keys.create(key)
    backend.keys.touch(key.id, at(5))
    stored = backend.keys.get(key.id)
    assert stored.last_used_at == at(5)
    assert stored.model_copy(update={"last_used_at": None}) == key


def test_the_first_revocation_time_stands(backend: Any) -> None:
    key = api_key("a")
    backend.keys.create(key)
    assert backend.keys.revoke("a", key.id, at(1)).revoked_at == at(1)
    assert backend.keys.revoke("a", key.id, at(2)).revoked_at == at(1)
    assert backend.keys.get(key.id).revoked_at == at(1)


def test_revoking_another_orgs_key_is_not_found_and_changes_nothing(backend: Any) -> None:
    key = api_key("a")
    backend.keys.create(key)
    with pytest.raises(NotFound):
        backend.keys.revoke("b", key.id, at(1))
    with pytest.raises(NotFound):
        backend.keys.revoke("a", new_id(), at(1))
    assert backend.keys.get(key.id).revoked_at is None
