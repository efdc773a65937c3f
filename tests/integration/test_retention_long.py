"""The long policies (90 days, a year) end to end with a clock the tests control: who
may set them on a workflow, and the purge keeping content exactly as long as they say."""

from datetime import timedelta

import pytest

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.adapters.storage.local import path_of
from shared.domain.enums import RetentionPolicy, Role
from shared.platform.config import get_settings
from shared.platform.errors import Forbidden
from shared.services import workflows
from tests.factories import make_org, workflow_body
from tests.integration.test_retention import (
    LARGE,
    T0,
    Clock,
    finish,
    make_workflow,
    new_submission,
    sweep,
)


@pytest.fixture
def org(repos, dispatcher):
    wiring.reset()
    org_id, _ = make_org(wiring.repositories())
    return org_id


def _spec(submission, output=RetentionPolicy.STORE_30_DAYS):
    body = workflow_body(retention={"submission": submission, "output": output})
    body.pop("slug")
    return workflows.WorkflowSpec(**body)


def _latest(org):
    repos = wiring.repositories()
    workflow = repos.workflows.get(org, "people")
    return workflow.latest_version, repos.workflows.version(workflow).retention


def test_an_author_may_not_move_a_30_day_workflow_to_90_days_an_admin_may(org):
    make_workflow(org, RetentionPolicy.STORE_30_DAYS)
    repos = wiring.repositories()
    longer = _spec(RetentionPolicy.STORE_90_DAYS)
    with pytest.raises(Forbidden, match="STORE_30_DAYS -> STORE_90_DAYS"):
        workflows.update_workflow(repos, org, "people", longer, as_role=Role.AUTHOR)
    assert _latest(org)[0] == 1

    workflows.update_workflow(repos, org, "people", longer, as_role=Role.ADMIN)
    number, kept = _latest(org)
    assert (number, kept.submission) == (2, RetentionPolicy.STORE_90_DAYS)
    # Back down to 30 days is shorter: any author's change.
    workflows.update_workflow(
        repos, org, "people", _spec(RetentionPolicy.STORE_30_DAYS), as_role=Role.AUTHOR
    )
    assert _latest(org)[0] == 3


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        (RetentionPolicy.STORE_90_DAYS, timedelta(days=90)),
        (RetentionPolicy.STORE_1_YEAR, timedelta(days=365)),
    ],
)
def test_a_long_policy_dates_the_submission_and_the_outputs(org, policy, kept):
    make_workflow(org, policy, output=policy)
    result = new_submission(org)
    assert result.submission.expires_at == T0 + kept
    ended = finish(result.run)
    assert ended.output_expires_at == ended.ended_at + kept


def test_a_year_keeps_the_submission_past_364_days_and_purges_it_by_366(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_YEAR, output=RetentionPolicy.STORE_1_YEAR)
    result = new_submission(org, LARGE)
    run = finish(result.run)
    sub = result.submission
    bundle = path_of(Layout(get_settings().storage_uri).run_prefix(org, run.id))

    early = sweep(now=Clock(T0 + timedelta(days=364)))
    assert (early.purged, early.outputs_purged) == (0, 0)
    kept = repos.submissions.get(org, sub.id)
    assert kept.content_purged_at is None and path_of(kept.input_file).read_bytes() == LARGE
    assert bundle.exists()

    late = Clock(T0 + timedelta(days=366))
    assert sweep(now=late).purged == 1
    gone = repos.submissions.get(org, sub.id)
    assert (gone.content_purged_at, gone.input_file) == (late.at, None)
    assert not path_of(sub.input_file).exists() and not bundle.exists()
    assert repos.runs.get(org, run.id).output_purged_at == late.at


def test_outputs_kept_a_year_stay_past_364_days_and_go_by_366(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_PERMANENTLY, output=RetentionPolicy.STORE_1_YEAR)
    result = new_submission(org)
    run = finish(result.run)
    bundle = path_of(Layout(get_settings().storage_uri).run_prefix(org, run.id))

    assert sweep(now=Clock(run.ended_at + timedelta(days=364))).outputs_purged == 0
    assert bundle.exists() and repos.runs.get(org, run.id).output_purged_at is None

    report = sweep(now=Clock(run.ended_at + timedelta(days=366)))
    assert (report.outputs_purged, report.purged) == (1, 0)
    assert not bundle.exists()
    assert repos.submissions.get(org, result.submission.id).content_purged_at is None
