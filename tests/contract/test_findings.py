"""Findings and artifacts of a run."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.enums import Severity
from shared.domain.models import Artifact
from shared.platform.errors import BadRequest, NotFound
from shared.platform.ids import new_id
from tests.contract.builders import finding, run, store

pytestmark = pytest.mark.contract


def a_run(backend: Any, org: str = "a") -> str:
    stored = run(org)
    store(backend, stored)
    return str(stored.id)


def every_page(backend: Any, run_id: str, limit: int, **filters: Any) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    token = None
    while True:
        page = backend.findings.page("a", run_id, limit=limit, page_token=token, **filters)
        assert len(page.items) <= limit
        seen += [(f.step_order, f.index) for f in page.items]
        token = page.next_page_token
        if token is None:
            return seen


def test_findings_page_by_step_then_index(backend: Any) -> None:
    run_id = a_run(backend)
    keys = [(step, index) for step in (0, 1, 2) for index in range(5)]
    shuffled = random.Random(7).sample(keys, len(keys))
    assert backend.findings.write(run_id, (finding("a", run_id, s, i) for s, i in shuffled)) == 15
    assert [(f.step_order, f.index) for f in backend.findings.page("a", run_id).items] == keys
    assert every_page(backend, run_id, limit=4) == keys


def test_findings_read_back_whole(backend: Any) -> None:
    run_id = a_run(backend)
    written = [finding("a", run_id, 0, i) for i in range(2)]
    backend.findings.write(run_id, written)
    assert backend.findings.page("a", run_id).items == written


def test_findings_filter_by_severity_across_pages(backend: Any) -> None:
    run_id = a_run(backend)
    severities = [Severity.ERROR, Severity.WARNING, Severity.INFO]
    backend.findings.write(
        run_id, [finding("a", run_id, 0, i, severities[i % 3]) for i in range(10)]
    )
    assert every_page(backend, run_id, 2, severity="ERROR") == [(0, i) for i in (0, 3, 6, 9)]


def test_rewriting_findings_overwrites_them(backend: Any) -> None:
    run_id = a_run(backend)
    findings = [finding("a", run_id, 0, i) for i in range(6)]
    backend.findings.write(run_id, findings)
    changed = [f.model_copy(update={"message": "again"}) for f in findings]
    assert backend.findings.write(run_id, changed) == 6
    assert backend.findings.count(run_id) == 6
    assert {f.message for f in backend.findings.page("a", run_id).items} == {"again"}


def test_findings_are_counted_per_run_and_deleted_by_id(backend: Any) -> None:
    run_id, other = a_run(backend), a_run(backend)
    findings = [finding("a", run_id, 0, i) for i in range(5)]
    backend.findings.write(run_id, findings)
    backend.findings.write(other, [finding("a", other, 0, 0)])
    backend.findings.delete(run_id, [findings[1].id, findings[3].id])
    assert backend.findings.count(run_id) == 3
    assert [f.index for f in backend.findings.page("a", run_id).items] == [0, 2, 4]
    assert backend.findings.count(other) == 1
    assert backend.findings.count(new_id()) == 0


def test_another_orgs_runs_findings_are_not_found(backend: Any) -> None:
    run_id = a_run(backend, org="b")
    backend.findings.write(run_id, [finding("b", run_id, 0, 0)])
    with pytest.raises(NotFound):
        backend.findings.page("a", run_id)
    with pytest.raises(NotFound):
        backend.findings.page("a", new_id())


def test_a_garbage_or_foreign_findings_token_is_a_bad_request(backend: Any) -> None:
    mine, theirs = a_run(backend), a_run(backend)
    for run_id in (mine, theirs):
        backend.findings.write(run_id, [finding("a", run_id, 0, i) for i in range(3)])
    with pytest.raises(BadRequest):
        backend.findings.page("a", mine, page_token="garbage!!")
    token = backend.findings.page("a", theirs, limit=1).next_page_token
    assert token is not None
    with pytest.raises(BadRequest):
        backend.findings.page("a", mine, page_token=token)


def test_artifacts_are_written_and_deleted_without_touching_findings(backend: Any) -> None:
    run_id = a_run(backend)
    backend.findings.write(run_id, [finding("a", run_id, 0, 0)])
    artifact = Artifact(
        id=new_id(),
        org_id="a",
        run_id=run_id,
        step_order=0,
        attempt=1,
        name="report.html",
        uri="file:///report.html",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    backend.findings.write_artifacts(run_id, [artifact])
    backend.findings.write_artifacts(run_id, [artifact])  # a repeat overwrites
    backend.findings.delete_artifacts(run_id, [artifact.id, new_id()])
    assert backend.findings.count(run_id) == 1


def test_a_runs_page_token_is_a_bad_request_for_findings(backend: Any) -> None:
    run_id = a_run(backend)
    store(backend, run("a", 1))
    backend.findings.write(run_id, [finding("a", run_id, 0, i) for i in range(3)])
    token = backend.runs.page("a", limit=1).next_page_token
    assert token is not None
    with pytest.raises(BadRequest):
        backend.findings.page("a", run_id, page_token=token)
