"""The API's read side reads a page in a bounded number of repository calls: a page of
runs and their submissions is two reads whatever its size (it was one more per run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import wiring
from shared.domain.enums import RetentionPolicy, RunStatus
from shared.domain.models import StepRun, Submission, ValidationRun, WorkflowStep
from shared.persistence.firestore.documents import to_doc
from shared.platform.ids import new_id
from shared.platform.once import Once
from shared.services import queries
from tests.factories import make_org, workflow_body
from tests.integration.conftest import ApiHarness

# Firestore's own behaviour: reads, queries, indexes. The emulator only.
pytestmark = pytest.mark.firestore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUNS = 100
# Calls the API makes for any request, to know the key: not the route's reads.
AUTH = {"keys.get", "keys.touch"}
REPOSITORIES = {"orgs", "keys", "workflows", "resources", "submissions", "runs", "findings"}


class Counting:
    """The real repositories, each method call recorded as `repository.method`:
    instrumentation, every read still goes to the emulator."""

    def __init__(self, real: Any, calls: list[str] | None = None, prefix: str = "") -> None:
        self.real, self.prefix = real, prefix
        self.calls: list[str] = [] if calls is None else calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.real, name)
        if name in REPOSITORIES and not self.prefix:
            return Counting(value, self.calls, f"{name}.")
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(self.prefix + name)
            return value(*args, **kwargs)

        return counted

    def taken(self) -> list[str]:
        """The calls since the last time asked, but the key's."""
        calls = [c for c in self.calls if c not in AUTH]
        self.calls.clear()
        return calls


def submission(org: str, run_id: str) -> Submission:
    return Submission(
        id=new_id(),
        org_id=org,
        workflow_id="w",
        workflow_slug="people",
        workflow_version=1,
        content="{}",
        original_filename=f"{run_id}.json",
        content_type="application/json",
        file_type="json",
        size_bytes=2,
        checksum_sha256="0" * 64,
        retention_policy=RetentionPolicy.STORE_7_DAYS,
        latest_run_id=run_id,
        run_ids=[run_id],
        created_at=T0,
    )


def seed(repos: Any, org: str) -> list[ValidationRun]:
    """RUNS runs, oldest first, each of its own submission but: two of one submission
    (a re-run), three whose submission is gone, one of none."""
    batch, runs = repos.db.batch(), []
    shared: Submission | None = None
    for i in range(RUNS):
        run_id = new_id()
        made = submission(org, run_id)
        if i in (10, 11):
            shared = shared or made
            made = shared
        if i not in (20, 21, 22, 30):
            batch.set(repos.document("submissions", made.id), to_doc(made))
        run = ValidationRun(
            id=run_id,
            org_id=org,
            submission_id=None if i == 30 else made.id,
            workflow_id="w",
            workflow_slug="people",
            workflow_version=1,
            status=RunStatus.PENDING,
            created_at=T0 + timedelta(minutes=i),
            config=[WorkflowStep(key="k", name="n", validator="json-schema")],
            steps=[StepRun(order=0, key="k", name="n", validator="json-schema")],
        )
        batch.set(repos.document("runs", run.id), to_doc(run))
        runs.append(run)
    batch.commit()
    return runs


def test_a_page_of_runs_and_their_submissions_is_two_reads_whatever_its_size(repos: Any) -> None:
    org, _ = make_org(repos)
    runs = seed(repos, org)
    counting = Counting(repos)

    for size in (1, 10, RUNS):
        page = queries.runs(counting, org, queries.RunFilter(limit=size))
        assert counting.taken() == ["runs.page", "submissions.by_id"]
        assert [row.run.id for row in page.items] == [r.id for r in reversed(runs)][:size]
        for row in page.items:  # each run with its own submission, or None once it is gone
            assert row.submission == repos.submissions.find(row.run.submission_id)
    gone = {row.run.id for row in page.items if row.submission is None}
    assert gone == {runs[i].id for i in (20, 21, 22, 30)}
    assert page.items[-11].submission == page.items[-12].submission is not None


def test_the_runs_route_reads_each_page_in_two_calls(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = seed(api.repos, api.org)
    counting = Counting(api.repos)
    monkeypatch.setattr(wiring, "repositories", Once(lambda: counting))

    whole = api.get(f"/v1/orgs/{api.org}/runs?limit={RUNS}")
    assert whole.status_code == 200, whole.get_json()
    assert counting.taken() == ["runs.page", "submissions.by_id"]
    items = whole.get_json()["items"]
    assert [i["id"] for i in items] == [r.id for r in reversed(runs)]
    for item, run in zip(items, reversed(runs), strict=True):
        stored = api.repos.submissions.find(run.submission_id)
        assert (item["submission"] or {}).get("id") == (stored.id if stored else None)

    seen, token = [], ""
    while True:
        page = api.get(f"/v1/orgs/{api.org}/runs?limit=30&page_token={token}").get_json()
        assert counting.taken() == ["runs.page", "submissions.by_id"]
        seen += [i["id"] for i in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [i["id"] for i in items]


def test_the_workflows_route_reads_their_versions_in_one_call(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for slug in ("w0", "w1", "w2", "w3"):
        created = api.post(f"/v1/orgs/{api.org}/workflows", json=workflow_body(slug))
        assert created.status_code == 201, created.get_json()
    spec = {k: v for k, v in workflow_body().items() if k != "slug"}
    updated = api.client.put(
        f"/v1/orgs/{api.org}/workflows/w2", json={**spec, "name": "Two"}, headers=api.headers()
    )
    assert updated.status_code == 200, updated.get_json()
    counting = Counting(api.repos)
    monkeypatch.setattr(wiring, "repositories", Once(lambda: counting))

    listed = api.get(f"/v1/orgs/{api.org}/workflows")

    assert listed.status_code == 200
    assert counting.taken() == ["workflows.all", "workflows.latest_versions"]
    items = listed.get_json()["items"]
    assert [(i["slug"], i["version"], i["name"]) for i in items] == [
        ("w0", 1, "People"),
        ("w1", 1, "People"),
        ("w2", 2, "Two"),
        ("w3", 1, "People"),
    ]
    # Each as the workflow's own route shows it.
    for item in items:
        assert api.get(f"/v1/orgs/{api.org}/workflows/{item['slug']}").get_json() == item


def test_another_orgs_workflows_and_runs_are_not_listed(repos: Any) -> None:
    org, _ = make_org(repos)
    other, _ = make_org(repos, "other")
    seed(repos, other)
    assert queries.runs(repos, org, queries.RunFilter()).items == []
    assert queries.workflows(repos, org) == []
