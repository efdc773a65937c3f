"""Badges and the latest result a badge shows, on both implementations: one badge a
workflow, found by its token alone; turned off, its token names nothing; the latest
result is the newest end among runs that ended with one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.domain.badges import Badge, new_token
from shared.domain.enums import ErrorCategory, RunResult, RunStatus
from shared.platform.ids import new_id
from tests.contract.builders import T0, at, run, store

pytestmark = pytest.mark.contract


def _badge(org: str, slug: str = "people") -> Badge:
    return Badge(
        token=new_token(),
        org_id=org,
        workflow_id="w",
        workflow_slug=slug,
        workflow_created_at=T0,
        created_at=T0,
    )


def test_a_workflow_has_one_badge_found_by_its_token(backend: Any) -> None:
    org = new_id()
    first, second = _badge(org), _badge(org)
    assert backend.badges.enable(first) == (first, True)
    assert backend.badges.enable(second) == (first, False)  # the first stands
    assert backend.badges.find(first.token) == first
    assert backend.badges.find(second.token) is None
    assert backend.badges.of_workflow(org, "people") == first
    assert backend.badges.of_workflow(org, "other") is None
    assert backend.badges.of_workflow(new_id(), "people") is None  # another org's slug


def test_concurrent_turn_ons_make_one_badge(backend: Any) -> None:
    org = new_id()
    made = [_badge(org) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(backend.badges.enable, made))
    assert sum(created for _, created in answers) == 1
    assert len({badge.token for badge, _ in answers}) == 1


def test_a_badge_turned_off_names_nothing_and_a_new_one_has_a_new_token(backend: Any) -> None:
    org = new_id()
    old = _badge(org)
    backend.badges.enable(old)
    assert backend.badges.disable(org, "people") == old
    assert backend.badges.disable(org, "people") is None
    assert backend.badges.find(old.token) is None
    assert backend.badges.of_workflow(org, "people") is None
    new = _badge(org)
    assert backend.badges.enable(new) == (new, True)
    assert backend.badges.find(new.token) == new and backend.badges.find(old.token) is None


@pytest.mark.parametrize("token", ["", "x", "a/b", "../badges", "A" * 42, "A" * 44, "+" * 43])
def test_a_token_of_another_shape_is_never_found(backend: Any, token: str) -> None:
    assert backend.badges.find(token) is None


def test_the_latest_result_is_the_newest_end_among_runs_with_a_result(backend: Any) -> None:
    org = new_id()
    assert backend.runs.latest_result(org, "people") is None
    done = {"started_at": at(0)}
    store(
        backend,
        run(org, 0, status=RunStatus.SUCCEEDED, ended_at=at(1), **done),
        # Created later but ended earlier: the end decides.
        run(
            org,
            0.5,
            status=RunStatus.FAILED,
            error_category=ErrorCategory.VALIDATION_FAILED,
            ended_at=at(0.8),
            **done,
        ),
        run(org, 2, status=RunStatus.RUNNING, **done),
        run(org, 0, status=RunStatus.CANCELED, ended_at=at(9), **done),  # says nothing
        run(org, 0, status=RunStatus.FAILED, ended_at=at(8), workflow_slug="other", **done),
        run(new_id(), 0, status=RunStatus.TIMED_OUT, ended_at=at(9), **done),
    )
    assert backend.runs.latest_result(org, "people") is RunResult.PASS
    assert backend.runs.latest_result(org, "other") is RunResult.ERROR
    store(
        backend,
        run(
            org,
            3,
            status=RunStatus.FAILED,
            error_category=ErrorCategory.VALIDATION_FAILED,
            ended_at=at(4),
            **done,
        ),
    )
    assert backend.runs.latest_result(org, "people") is RunResult.FAIL
    store(backend, run(org, 5, status=RunStatus.TIMED_OUT, ended_at=at(6), **done))
    assert backend.runs.latest_result(org, "people") is RunResult.TIMED_OUT
