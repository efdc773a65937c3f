"""What the purge sweep reads and marks, a page at a time."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.enums import RunStatus
from tests.contract.builders import at, run, save, store, submission

pytestmark = pytest.mark.contract


def expired(minutes: float, **fields: Any) -> Any:
    return submission("a", expires_at=at(minutes), **fields)


def every_page(read: Any, when: Any, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    for _ in range(50):
        page, cursor = read(when, limit, cursor)
        pages.append([item.id for item in page])
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ran out")


def test_expired_submissions_page_oldest_expiry_first_to_a_none_cursor(backend: Any) -> None:
    subs = [expired(m) for m in (4, 1, 3, 0, 2)]
    store(backend, *subs, expired(6), submission("a"))
    pages = every_page(backend.sweeps.expired_submissions, at(5), 2)
    oldest = [s.id for s in sorted(subs, key=lambda s: s.expires_at)]
    assert pages == [oldest[:2], oldest[2:4], oldest[4:]]
    assert every_page(backend.sweeps.expired_submissions, at(3), 2)[-1] == oldest[2:4]


def test_an_expired_submission_is_read_with_what_the_purge_needs(backend: Any) -> None:
    sub = expired(0, input_file="file:///in/a.json", run_ids=["r1", "r2"])
    noted = expired(1, purge_retry_since=at(0))
    store(backend, sub, noted)
    page, _ = backend.sweeps.expired_submissions(at(5), 10)
    read = {s.id: s for s in page}
    assert (read[sub.id].org_id, read[sub.id].input_file) == ("a", "file:///in/a.json")
    assert read[sub.id].run_ids == ("r1", "r2")
    assert (read[sub.id].handed_to_retry, read[noted.id].handed_to_retry) == (False, True)


def test_the_runs_of_swept_submissions_are_read_listed_or_not(backend: Any) -> None:
    listed, unlisted = expired(0), expired(1)
    runs = [
        run("a", 0, submission_id=listed.id, status=RunStatus.SUCCEEDED),
        run("a", 1, submission_id=unlisted.id, output_purged_at=at(0)),
    ]
    listed.run_ids = [runs[0].id]
    store(backend, listed, unlisted, *runs)
    page, _ = backend.sweeps.expired_submissions(at(5), 10)
    found = backend.sweeps.runs_of(page)
    assert {sid: [(r.id, r.submission_id) for r in rs] for sid, rs in found.items()} == {
        listed.id: [(runs[0].id, listed.id)],
        unlisted.id: [(runs[1].id, unlisted.id)],
    }
    assert (found[listed.id][0].status, found[listed.id][0].output_purged) == (
        RunStatus.SUCCEEDED,
        False,
    )
    assert found[unlisted.id][0].output_purged is True


def test_marking_purges_submissions_and_their_unpurged_runs(backend: Any) -> None:
    sub = expired(0)
    fresh, purged = (
        run("a", 0, submission_id=sub.id),
        run("a", 1, submission_id=sub.id, output_purged_at=at(0)),
    )
    sub.run_ids = [fresh.id, purged.id]
    store(backend, sub, fresh, purged)
    page, _ = backend.sweeps.expired_submissions(at(5), 10)
    runs = backend.sweeps.runs_of(page)
    assert backend.sweeps.mark_purged_unless_changed([(s, runs[s.id]) for s in page], at(7))
    stored = backend.submissions.find(sub.id)
    assert (stored.content_purged_at, stored.expires_at, stored.input_file) == (at(7), None, None)
    assert backend.runs.find(fresh.id).output_purged_at == at(7)
    assert backend.runs.find(purged.id).output_purged_at == at(0)
    assert backend.sweeps.expired_submissions(at(5), 10) == ([], None)


def test_nothing_is_marked_when_a_submission_changed_since_read(backend: Any) -> None:
    one, two = expired(0), expired(1)
    mine = run("a", submission_id=one.id)
    one.run_ids = [mine.id]
    store(backend, one, two, mine)
    page, _ = backend.sweeps.expired_submissions(at(5), 10)
    runs = backend.sweeps.runs_of(page)
    save(backend, two.model_copy(update={"run_ids": ["rerun"]}))  # a rerun changes it
    assert (
        backend.sweeps.mark_purged_unless_changed([(s, runs[s.id]) for s in page], at(7)) is False
    )
    assert backend.submissions.find(one.id) == one
    assert backend.runs.find(mine.id) == mine


def test_nothing_is_marked_when_a_run_changed_since_read(backend: Any) -> None:
    sub = expired(0)
    mine = run("a", submission_id=sub.id)
    sub.run_ids = [mine.id]
    store(backend, sub, mine)
    page, _ = backend.sweeps.expired_submissions(at(5), 10)
    runs = backend.sweeps.runs_of(page)
    save(backend, mine.model_copy(update={"status": RunStatus.RUNNING}))
    assert backend.sweeps.mark_purged_unless_changed([(page[0], runs[sub.id])], at(7)) is False
    assert backend.submissions.find(sub.id) == sub
    assert backend.runs.find(mine.id).output_purged_at is None


def test_expired_outputs_page_oldest_expiry_first_to_a_none_cursor(backend: Any) -> None:
    runs = [run("a", m, output_expires_at=at(m)) for m in (3, 0, 2, 1)]  # created as they expire
    store(backend, *runs, run("a", output_expires_at=at(9)), run("a"))
    oldest = [r.id for r in sorted(runs, key=lambda r: r.created_at)]
    assert every_page(backend.sweeps.expired_outputs, at(5), 3) == [oldest[:3], oldest[3:]]
    page, _ = backend.sweeps.expired_outputs(at(5), 10)
    assert {(r.org_id, r.output_purged) for r in page} == {("a", False)}


def test_marking_outputs_skips_a_run_changed_since_read_and_counts_the_rest(backend: Any) -> None:
    runs = [run("a", m, output_expires_at=at(m)) for m in range(3)]
    store(backend, *runs)
    page, _ = backend.sweeps.expired_outputs(at(5), 10)
    save(backend, runs[1].model_copy(update={"status": RunStatus.RUNNING}))
    assert backend.sweeps.mark_outputs_purged(page, at(7)) == 2
    assert [backend.runs.find(r.id).output_purged_at for r in runs] == [at(7), None, at(7)]
    left, _ = backend.sweeps.expired_outputs(at(5), 10)
    assert [r.id for r in left] == [runs[1].id]
    assert backend.sweeps.mark_outputs_purged(left, at(8)) == 1
