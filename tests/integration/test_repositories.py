from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.enums import RunStatus, Severity
from shared.domain.models import Finding, StepRun, ValidationRun, WorkflowStep
from shared.persistence.firestore.documents import to_doc
from shared.platform.errors import BadRequest, NotFound
from shared.platform.ids import new_id, stable_id
from tests.factories import make_org

# Firestore's own behaviour: reads, queries, indexes. The emulator only.
pytestmark = pytest.mark.firestore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def put_run(repos, org, minutes, status=RunStatus.PENDING, slug="people"):
    run = ValidationRun(
        id=new_id(),
        org_id=org,
        workflow_id="w",
        workflow_slug=slug,
        workflow_version=1,
        status=status,
        created_at=T0 + timedelta(minutes=minutes),
        config=[WorkflowStep(key="k", name="n", validator="json-schema")],
        steps=[StepRun(order=0, key="k", name="n", validator="json-schema")],
    )
    repos.document("runs", run.id).set(to_doc(run))
    return run


def test_runs_are_stored_with_derived_state_and_read_back(repos):
    org, _ = make_org(repos)
    run = put_run(repos, org, 0)
    stored = repos.document("runs", run.id).get().to_dict()
    assert (stored["state"], stored["result"]) == ("PENDING", "UNKNOWN")
    assert repos.runs.get(org, run.id) == run


def test_another_orgs_object_is_not_found(repos):
    org_a, _ = make_org(repos, "a")
    org_b, _ = make_org(repos, "b")
    run = put_run(repos, org_a, 0)
    with pytest.raises(NotFound):
        repos.runs.get(org_b, run.id)
    with pytest.raises(NotFound):
        repos.findings.page(org_b, run.id)
    with pytest.raises(NotFound):
        repos.runs.get(org_a, "no-such-run")


def test_run_paging_is_newest_first_complete_and_filtered(repos):
    org, _ = make_org(repos)
    other, _ = make_org(repos, "other")
    runs = [put_run(repos, org, i, slug="a" if i % 2 else "b") for i in range(7)]
    put_run(repos, other, 100)
    seen, token = [], None
    while True:
        page = repos.runs.page(org, limit=3, page_token=token)
        assert len(page.items) <= 3
        seen += [r.id for r in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == [r.id for r in reversed(runs)]
    only_a = repos.runs.page(org, workflow="a", limit=50).items
    assert {r.id for r in only_a} == {r.id for r in runs if r.workflow_slug == "a"}
    assert repos.runs.page(org, status="SUCCEEDED").items == []
    with pytest.raises(BadRequest):
        repos.runs.page(org, page_token="garbage!!")
    # A token naming another org's run does not page into it.
    foreign_token = repos.runs.page(other, limit=1).items[0].id
    from shared.persistence.firestore.documents import encode_token

    with pytest.raises(BadRequest):
        repos.runs.page(org, page_token=encode_token(foreign_token))


def make_findings(org, run_id, count):
    return [
        Finding(
            id=stable_id(run_id, 0, 1, i),
            org_id=org,
            run_id=run_id,
            step_order=0,
            step_key="k",
            attempt=1,
            index=i,
            severity=Severity.ERROR if i % 3 == 0 else Severity.WARNING,
            code="c",
            message=f"m{i}",
            path=f"/{i}",
            created_at=T0,
        )
        for i in range(count)
    ]


def test_findings_are_written_in_batches_and_rewriting_does_not_duplicate(repos):
    org, _ = make_org(repos)
    run = put_run(repos, org, 0)
    findings = make_findings(org, run.id, 1203)  # more than two 500-write batches
    assert repos.findings.write(run.id, findings) == 1203
    repos.findings.write(run.id, findings)
    assert repos.findings.count(run.id) == 1203


def test_findings_page_in_order_and_filter_by_severity(repos):
    org, _ = make_org(repos)
    run = put_run(repos, org, 0)
    repos.findings.write(run.id, make_findings(org, run.id, 25))
    seen, token = [], None
    while True:
        page = repos.findings.page(org, run.id, limit=10, page_token=token)
        seen += [f.index for f in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(range(25))
    errors = repos.findings.page(org, run.id, severity="ERROR", limit=100).items
    assert [f.index for f in errors] == [i for i in range(25) if i % 3 == 0]
