"""Runs and submissions: tenancy, paging, reconcile, runs of submissions, in flight."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import RunStatus
from shared.platform.errors import BadRequest, NotFound
from shared.platform.ids import new_id
from tests.contract.builders import at, finding, idempotency, run, store, submission

pytestmark = pytest.mark.contract


def all_pages(backend: Any, org: str, limit: int, **filters: Any) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        page = backend.runs.page(org, limit=limit, page_token=token, **filters)
        assert len(page.items) <= limit
        seen += [r.id for r in page.items]
        token = page.next_page_token
        if token is None:
            return seen


def test_a_run_reads_back_and_another_orgs_is_not_found(backend: Any) -> None:
    mine = run("a")
    store(backend, mine)
    assert backend.runs.get("a", mine.id) == mine
    assert backend.runs.find(mine.id) == mine
    with pytest.raises(NotFound):
        backend.runs.get("b", mine.id)
    with pytest.raises(NotFound):
        backend.runs.get("a", new_id())
    assert backend.runs.find(new_id()) is None


def test_runs_page_newest_first_with_ties_by_id_descending(backend: Any) -> None:
    runs = [run("a", minutes) for minutes in (1, 3, 2, 3, 3, 0, 2)]
    store(backend, *runs, run("b", 10))
    expected = sorted(runs, key=lambda r: (r.created_at, r.id), reverse=True)
    assert [r.id for r in backend.runs.page("a", limit=50).items] == [r.id for r in expected]
    assert all_pages(backend, "a", limit=2) == [r.id for r in expected]


def test_the_last_page_carries_no_token(backend: Any) -> None:
    store(backend, *(run("a", m) for m in range(4)))
    assert backend.runs.page("a", limit=4).next_page_token is None
    assert backend.runs.page("a", limit=3).next_page_token is not None
    assert backend.runs.page("nobody").items == []


def test_runs_filter_by_status_and_workflow_across_pages(backend: Any) -> None:
    runs = [
        run(
            "a",
            m,
            workflow_slug="x" if m % 2 else "y",
            status=RunStatus.SUCCEEDED if m % 3 else RunStatus.PENDING,
        )
        for m in range(9)
    ]
    store(backend, *runs)
    newest = sorted(runs, key=lambda r: (r.created_at, r.id), reverse=True)
    assert all_pages(backend, "a", 2, workflow="x") == [
        r.id for r in newest if r.workflow_slug == "x"
    ]
    done = [r.id for r in newest if r.status is RunStatus.SUCCEEDED]
    assert all_pages(backend, "a", 2, status="SUCCEEDED") == done
    both = [r.id for r in newest if r.status is RunStatus.SUCCEEDED and r.workflow_slug == "y"]
    assert all_pages(backend, "a", 1, status="SUCCEEDED", workflow="y") == both


def test_a_garbage_page_token_is_a_bad_request(backend: Any) -> None:
    store(backend, run("a"))
    for token in ("garbage!!", "%%%", "x" * 300):
        with pytest.raises(BadRequest):
            backend.runs.page("a", page_token=token)


def test_another_orgs_page_token_is_a_bad_request(backend: Any) -> None:
    store(backend, *(run("b", m) for m in range(3)), run("a"))
    token = backend.runs.page("b", limit=1).next_page_token
    assert token is not None
    with pytest.raises(BadRequest):
        backend.runs.page("a", page_token=token)


def test_a_findings_page_token_is_a_bad_request_for_runs(backend: Any) -> None:
    mine = run("a")
    store(backend, mine)
    backend.findings.write(mine.id, [finding("a", mine.id, 0, i) for i in range(3)])
    token = backend.findings.page("a", mine.id, limit=1).next_page_token
    assert token is not None
    with pytest.raises(BadRequest):
        backend.runs.page("a", page_token=token)


def test_runs_to_reconcile_are_the_overdue_most_overdue_first(backend: Any) -> None:
    late, later, due_now, future = (run("a", reconcile_at=at(m)) for m in (2, 1, 5, 6))
    store(backend, late, later, due_now, future, run("a"), run("b", reconcile_at=at(0)))
    found = backend.runs.to_reconcile(at(5), limit=10)
    assert [r.reconcile_at for r in found] == [at(0), at(1), at(2), at(5)]
    assert due_now.id in [r.id for r in found] and future.id not in [r.id for r in found]
    assert [r.reconcile_at for r in backend.runs.to_reconcile(at(5), limit=2)] == [at(0), at(1)]


def test_runs_in_flight_count_pending_and_running_up_to_most(backend: Any) -> None:
    statuses = [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    store(backend, *(run("a", status=s) for s in [*statuses, RunStatus.FAILED]))
    store(backend, *(run("b", status=RunStatus.PENDING) for _ in range(4)))
    assert backend.runs.in_flight("a", most=10) == 3
    assert backend.runs.in_flight("a", most=2) == 2
    assert backend.runs.in_flight("nobody", most=10) == 0


def test_runs_of_submissions_are_grouped_by_submission(backend: Any) -> None:
    listed, unlisted, gone = submission("a"), submission("a"), new_id()
    runs = {
        sid: [run("a", m, submission_id=sid) for m in range(2)]
        for sid in (listed.id, unlisted.id, gone)
    }
    listed.run_ids = [r.id for r in runs[listed.id]]
    store(backend, listed, unlisted, *(r for rs in runs.values() for r in rs))
    found = backend.runs.of({listed.id: listed, unlisted.id: unlisted, gone: None})
    assert {sid: {r.id for r in rs} for sid, rs in found.items()} == {
        sid: {r.id for r in rs} for sid, rs in runs.items()
    }
    unknown = new_id()
    by_ids = backend.runs.of_submissions([listed.id, gone, unknown])
    assert {r.id for r in by_ids[gone]} == {r.id for r in runs[gone]}
    assert {r.id for r in by_ids[listed.id]} == {r.id for r in runs[listed.id]}
    assert by_ids[unknown] == []


def test_a_submission_reads_back_and_another_orgs_is_not_found(backend: Any) -> None:
    mine = submission("a")
    store(backend, mine)
    assert backend.submissions.get("a", mine.id) == mine
    assert backend.submissions.find(mine.id) == mine
    with pytest.raises(NotFound):
        backend.submissions.get("b", mine.id)
    with pytest.raises(NotFound):
        backend.submissions.get("a", new_id())
    assert backend.submissions.find(None) is None
    assert backend.submissions.find(new_id()) is None


def test_submissions_by_id_answer_none_for_the_missing(backend: Any) -> None:
    one, two, missing = submission("a"), submission("b"), new_id()
    store(backend, one, two)
    assert backend.submissions.by_id([two.id, missing, one.id]) == {
        two.id: two,
        missing: None,
        one.id: one,
    }
    assert backend.submissions.by_id([]) == {}


def test_an_idempotency_record_reads_back_with_its_version(backend: Any) -> None:
    record = idempotency("a")
    store(backend, record)
    found = backend.submissions.idempotency(record.id)
    assert found.updated is not None
    assert found.model_copy(update={"updated": None}) == record
    assert backend.submissions.idempotency(new_id()) is None


AWKWARD: dict[str, Any] = {"__meta__": {"": [1, 2.5, None, {"deep": {"x": ["é", True]}}]}}


def test_user_json_and_nested_records_read_back_unchanged(backend: Any) -> None:
    sub = submission("a", metadata=AWKWARD)
    mine = run("a", submission_id=sub.id)
    mine.config[0].config = AWKWARD
    mine.steps[0].metrics = {"cpu_seconds": 1.5, "phases": {"load": 0.25}}
    store(backend, sub, mine)
    assert backend.submissions.get("a", sub.id).metadata == AWKWARD
    stored = backend.runs.get("a", mine.id)
    assert stored == mine
    assert stored.config[0].config == AWKWARD


def test_what_was_written_or_read_is_a_copy_of_what_is_stored(backend: Any) -> None:
    mine = run("a")
    original = mine.model_copy(deep=True)
    store(backend, mine)
    mine.status = RunStatus.FAILED
    mine.steps[0].error = "changed after the write"
    read = backend.runs.get("a", mine.id)
    assert read == original
    read.status = RunStatus.RUNNING
    read.config[0].name = "changed after the read"
    assert backend.runs.find(mine.id) == original
    assert backend.runs.page("a").items == [original]
