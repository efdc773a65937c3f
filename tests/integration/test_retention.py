"""Retention and purge with a clock the tests control, against the Firestore emulator
and file storage; faults are injected at the blob-store boundary."""

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.adapters.storage.local import LocalBlobStore, path_of
from shared.api.auth.api_keys import issue_key
from shared.contract.envelopes import OutputStatus
from shared.domain.enums import RetentionPolicy, RunStatus
from shared.platform.config import get_settings
from shared.services import purge, workflows
from shared.services.submissions import IncomingFile, submit
from tests.factories import make_org, workflow_body
from tests.integration.test_flows import callback, claimed, write_output

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SMALL = b'{"name": "Ada"}'
LARGE = b'{"name": "' + b"x" * (70 * 1024) + b'"}'


class Clock:
    def __init__(self, at=T0):
        self.at = at

    def __call__(self):
        return self.at


class FaultyStore(LocalBlobStore):
    """The real file store, with deletes that fail while `broken` is set."""

    broken = True

    def delete(self, uri):
        if self.broken:
            raise OSError("storage unavailable (injected)")
        super().delete(uri)

    def delete_prefix(self, prefix_uri):
        if self.broken:
            raise OSError("storage unavailable (injected)")
        return super().delete_prefix(prefix_uri)


@pytest.fixture
def org(repos, dispatcher):
    wiring.reset()
    org_id, _ = make_org(wiring.repositories())
    return org_id


def make_workflow(org_id, policy, output=RetentionPolicy.STORE_30_DAYS, slug="people"):
    body = workflow_body(slug=slug, retention={"submission": policy, "output": output})
    workflows.create_workflow(wiring.repositories(), org_id, workflows.WorkflowCreate(**body))


def new_submission(org_id, data=SMALL, slug="people", now=None):
    repos = wiring.repositories()
    key, _ = issue_key(repos, org_id, "k")
    return submit(
        repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=key,
        slug=slug,
        incoming=IncomingFile(data, "p.json", "application/json"),
        now=now or Clock(),
    )


def finish(run, findings=2):
    """Ends the run through the real claim + output + callback path."""
    step = claimed(wiring.repositories(), run)
    return callback(write_output(run, step, OutputStatus.FAILED_VALIDATION, findings)).run


def sweep(store=None, now=None, **kwargs):
    return purge.purge_expired(
        wiring.repositories(),
        store or wiring.blob_store(),
        get_settings(),
        now=now or Clock(),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        (RetentionPolicy.DO_NOT_STORE, None),
        (RetentionPolicy.STORE_1_DAY, timedelta(days=1)),
        (RetentionPolicy.STORE_7_DAYS, timedelta(days=7)),
        (RetentionPolicy.STORE_30_DAYS, timedelta(days=30)),
        (RetentionPolicy.STORE_PERMANENTLY, None),
    ],
)
def test_each_policy_gives_the_right_expiry(org, policy, kept):
    make_workflow(org, policy, output=policy)
    result = new_submission(org)
    assert result.submission.retention_policy is policy
    assert result.submission.expires_at == (T0 + kept if kept else None)
    ended = finish(result.run)
    if policy is RetentionPolicy.DO_NOT_STORE:
        assert ended.output_expires_at == ended.ended_at
    elif kept:
        assert ended.output_expires_at == ended.ended_at + kept
    else:
        assert ended.output_expires_at is None


def test_the_policy_is_a_snapshot(org):
    make_workflow(org, RetentionPolicy.STORE_7_DAYS)
    old = new_submission(org).submission
    spec = workflow_body(retention={"submission": "STORE_1_DAY", "output": "STORE_1_DAY"})
    spec.pop("slug")
    workflows.update_workflow(wiring.repositories(), org, "people", workflows.WorkflowSpec(**spec))
    again = wiring.repositories().submissions.get(org, old.id)
    assert (again.retention_policy, again.expires_at) == ("STORE_7_DAYS", T0 + timedelta(days=7))
    assert new_submission(org).submission.retention_policy == "STORE_1_DAY"


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "file"])
def test_content_is_purged_exactly_when_due_and_the_record_stays(org, data):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    result = new_submission(org, data)
    run = finish(result.run)
    sub = result.submission
    layout = Layout(get_settings().storage_uri)
    bundle = path_of(layout.run_prefix(org, run.id))
    assert bundle.exists()

    early = sweep(now=Clock(sub.expires_at - timedelta(seconds=1)))
    assert early.purged == 0
    assert repos.submissions.get(org, sub.id).content_purged_at is None

    due = Clock(sub.expires_at)
    assert sweep(now=due).purged == 1
    after = repos.submissions.get(org, sub.id)
    assert after.content == "" and after.input_file is None
    assert (after.content_purged_at, after.expires_at) == (due.at, None)
    assert (after.checksum_sha256, after.original_filename, after.size_bytes) == (
        sub.checksum_sha256,
        sub.original_filename,
        sub.size_bytes,
    )
    if sub.input_file:
        assert not path_of(sub.input_file).exists()
    assert not bundle.exists()
    still = repos.runs.get(org, run.id)
    assert (still.status, still.output_purged_at) == (RunStatus.FAILED, due.at)
    assert repos.findings.count(run.id) == 2
    # Purging twice is harmless.
    assert sweep(now=Clock(due.at + timedelta(days=1))).purged == 0
    assert purge.purge_content(repos, wiring.blob_store(), get_settings(), sub.id) == "purged"
    assert repos.submissions.get(org, sub.id).content_purged_at == due.at


@pytest.mark.firestore
def test_purge_is_put_off_while_a_run_is_active(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    result = new_submission(org)
    later = Clock(T0 + timedelta(days=2))
    report = sweep(now=later)
    assert (report.purged, report.deferred, report.failed) == (0, 1, 0)
    kept = repos.submissions.get(org, result.submission.id)
    assert kept.content_purged_at is None and path_of(kept.input_file).read_bytes() == SMALL
    assert not repos.document("purge_retries", result.submission.id).get().exists
    finish(result.run)
    assert sweep(now=later).purged == 1


@pytest.mark.firestore
def test_do_not_store_is_queued_for_purge_when_the_run_ends(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.DO_NOT_STORE)
    result = new_submission(org, LARGE)
    run = finish(result.run)
    record = repos.document("purge_retries", result.submission.id).get().to_dict()
    assert (record["reason"], record["next_retry_at"]) == ("DO_NOT_STORE", run.ended_at)
    from tests.integration.test_flows import queued_tasks

    urls = [t["httpRequest"]["url"] for t in queued_tasks()]
    assert get_settings().purge_url in urls
    report = purge.process_retries(
        repos, wiring.blob_store(), get_settings(), now=Clock(run.ended_at)
    )
    assert report.purged == 1
    assert not repos.document("purge_retries", result.submission.id).get().exists
    after = repos.submissions.get(org, result.submission.id)
    assert (
        after.content_purged_at is not None and not path_of(result.submission.input_file).exists()
    )


@pytest.mark.firestore
def test_a_failing_store_walks_the_backoff_to_a_person(org, caplog, env):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    result = new_submission(org, LARGE)
    finish(result.run)
    faulty = FaultyStore()
    clock = Clock(result.submission.expires_at)
    report = sweep(store=faulty, now=clock)
    assert report.failed == 1
    ref = repos.document("purge_retries", result.submission.id)
    gaps = [ref.get().get("next_retry_at") - clock.at]
    caplog.set_level(logging.ERROR)
    for _ in range(5):
        record = ref.get().to_dict()
        assert record["state"] == "PENDING"
        clock.at = record["next_retry_at"] - timedelta(seconds=1)
        assert purge.process_retries(repos, faulty, get_settings(), now=clock).failed == 0
        clock.at = record["next_retry_at"]
        assert purge.process_retries(repos, faulty, get_settings(), now=clock).failed == 1
        record = ref.get().to_dict()
        if record["state"] == "PENDING":
            gaps.append(record["next_retry_at"] - clock.at)
    assert gaps == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(hours=1),
        timedelta(hours=6),
        timedelta(hours=24),
    ]
    assert (record["state"], record["attempt_count"]) == ("NEEDS_ATTENTION", 5)
    assert "injected" in record["last_error"]
    loud = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and "needs a person" in r.getMessage()
    ]
    assert loud and result.submission.id in loud[0].getMessage()
    # No longer retried automatically, and the hourly sweep leaves it to the retry record.
    far = Clock(clock.at + timedelta(days=30))
    assert purge.process_retries(repos, faulty, get_settings(), now=far).failed == 0
    assert sweep(store=faulty, now=far).handed_to_retry == 1
    assert [r.id for r in purge.list_retries(repos)] == [result.submission.id]

    # The fault cleared, a person runs --retry: the content is gone, the record deleted.
    env_for_cli = {**os.environ, "PATH": os.environ["PATH"]}
    cli = str(Path(sys.executable).parent / "assay")
    listed = subprocess.run(
        [cli, "admin", "purge-retries", "--json"],
        env=env_for_cli,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.submission.id in listed.stdout
    done = subprocess.run(
        [cli, "admin", "purge-retries", "--retry", result.submission.id, "--json"],
        env=env_for_cli,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not ref.get().exists
    after = repos.submissions.get(org, result.submission.id)
    assert after.content_purged_at is not None
    assert not path_of(result.submission.input_file).exists()


@pytest.mark.firestore
def test_a_run_whose_submission_was_deleted_still_has_its_bundle_purged(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.DO_NOT_STORE)
    result = new_submission(org)
    run = finish(result.run)
    repos.document("submissions", result.submission.id).delete()
    report = purge.process_retries(
        repos, wiring.blob_store(), get_settings(), now=Clock(run.ended_at)
    )
    assert report.purged == 1
    assert not path_of(Layout(get_settings().storage_uri).run_prefix(org, run.id)).exists()
    assert repos.runs.get(org, run.id).submission_id == result.submission.id


def test_expired_outputs_are_purged_as_a_safety_net(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_PERMANENTLY, output=RetentionPolicy.STORE_1_DAY)
    result = new_submission(org)
    run = finish(result.run)
    bundle = path_of(Layout(get_settings().storage_uri).run_prefix(org, run.id))
    assert sweep(now=Clock(run.ended_at)).outputs_purged == 0
    report = sweep(now=Clock(run.output_expires_at))
    assert (report.outputs_purged, report.purged) == (1, 0)
    assert not bundle.exists()
    kept = repos.submissions.get(org, result.submission.id)
    assert kept.content_purged_at is None and path_of(kept.input_file).read_bytes() == SMALL


def test_the_sweep_stops_at_its_deadline(org):
    import time

    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    new_submission(org)
    report = sweep(now=Clock(T0 + timedelta(days=2)), deadline=time.monotonic() - 1)
    assert report.stopped_early and report.purged == 0


class Interleaving(LocalBlobStore):
    """The real file store: deletes under `failing` fail, and deleting `rerun_on`'s bundle
    first runs it again (a rerun that starts and ends), as users could between the
    sweep's read and its mark."""

    def __init__(self, failing, rerun_on, org_id):
        self.failing, self.rerun_on, self.org_id = failing, rerun_on, org_id

    def delete(self, uri):
        if self.failing in uri:
            raise OSError("storage unavailable (injected)")
        super().delete(uri)

    def delete_prefix(self, prefix_uri):
        if self.rerun_on in prefix_uri:
            from shared.services import runs

            repos = wiring.repositories()
            submission = next(
                s for s in self.submissions if s.latest_run_id and s.latest_run_id in prefix_uri
            )
            again, _ = runs.rerun(
                repos, wiring.task_queue(), get_settings(), self.org_id, submission.id, None
            )
            # It even ends before the mark: its bundle was never deleted, so no mark.
            runs.cancel_run(repos, wiring.task_queue(), get_settings(), self.org_id, again.id)
            self.rerun_on = "nothing more"
        return super().delete_prefix(prefix_uri)


def test_one_page_purges_defers_and_fails_each_submission_on_its_own(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    results = [new_submission(org, LARGE) for _ in range(5)]
    done, active, broken, raced, owned = results
    for result in (done, broken, raced, owned):
        finish(result.run)
    purge.record_failure(repos, owned.submission.id, org, "earlier failure", Clock())
    store = Interleaving(broken.submission.id, raced.run.id, org)
    store.submissions = [repos.submissions.get(org, r.submission.id) for r in results]

    report = sweep(store=store, now=Clock(T0 + timedelta(days=2)))

    assert (report.purged, report.deferred, report.failed, report.handed_to_retry) == (1, 2, 1, 1)
    after = {r.submission.id: repos.submissions.get(org, r.submission.id) for r in results}
    assert after[done.submission.id].content_purged_at is not None
    assert not path_of(done.submission.input_file).exists()
    # The rerun started after its bundle went: the record is not marked purged.
    assert after[raced.submission.id].content_purged_at is None
    assert repos.runs.get(org, raced.run.id).output_purged_at is None
    for kept in (active, broken, owned):
        assert after[kept.submission.id].content_purged_at is None
        assert path_of(kept.submission.input_file).exists()
    record = repos.purge_retries.find(broken.submission.id)
    assert record is not None and "injected" in (record.last_error or "")
    assert repos.purge_retries.find(done.submission.id) is None


@pytest.mark.firestore
def test_a_page_larger_than_one_commit_is_marked_in_several(org, monkeypatch):
    from shared.persistence.firestore.sweeps import FirestoreSweeps

    monkeypatch.setattr(purge, "BATCH_LIMIT", 4)  # two submissions with a run each
    commits, mark = [], FirestoreSweeps.mark_purged_unless_changed

    def counted(self, marks, at):
        commits.append(len(marks))
        return mark(self, marks, at)

    monkeypatch.setattr(FirestoreSweeps, "mark_purged_unless_changed", counted)
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    results = [new_submission(org) for _ in range(5)]
    for result in results:
        finish(result.run)
    report = sweep(now=Clock(T0 + timedelta(days=2)))
    assert (report.purged, report.batches) == (5, 1)
    assert commits == [2, 2, 1]  # one page, three commits
    repos = wiring.repositories()
    for result in results:
        assert repos.submissions.get(org, result.submission.id).content_purged_at is not None
        assert repos.runs.get(org, result.run.id).output_purged_at is not None


def test_a_sweep_page_says_whether_another_follows(org):
    """A page reads one more than it holds to know: a cursor only when more follow, so
    the sweep's last page is not followed by a query that finds nothing."""
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    results = [new_submission(org) for _ in range(3)]
    at = T0 + timedelta(days=2)
    page, cursor = repos.sweeps.expired_submissions(at, 3)
    assert (len(page), cursor) == (3, None)
    first, cursor = repos.sweeps.expired_submissions(at, 2)
    assert len(first) == 2 and cursor is not None
    rest, cursor = repos.sweeps.expired_submissions(at, 2, cursor)
    assert (len(rest), cursor) == (1, None)
    assert {s.id for s in first + rest} == {r.submission.id for r in results}


@pytest.mark.firestore
def test_a_mark_is_not_written_over_a_record_that_changed_since_the_page(org):
    """The sweep marks a commit's worth on condition that nothing changed since it read
    them: one changed record, and the whole commit is refused, none of it written."""
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    results = [new_submission(org) for _ in range(2)]
    for result in results:
        finish(result.run)
    page, _ = repos.sweeps.expired_submissions(T0 + timedelta(days=2), 10)
    runs = repos.sweeps.runs_of(page)
    assert {s.id for s in page} == {r.submission.id for r in results}
    changed = page[0]
    repos.document("submissions", changed.id).update({"metadata": {"touched": True}})

    assert not repos.sweeps.mark_purged_unless_changed([(s, runs[s.id]) for s in page], T0)
    for submission in page:
        assert repos.submissions.find(submission.id).content_purged_at is None
    # Read again, it goes through.
    page, _ = repos.sweeps.expired_submissions(T0 + timedelta(days=2), 10)
    assert repos.sweeps.mark_purged_unless_changed([(s, runs[s.id]) for s in page], T0)
    for submission in page:
        assert repos.submissions.find(submission.id).content_purged_at == T0


@pytest.mark.firestore
def test_a_failed_purge_marks_its_submission_for_the_retry_function(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    kept, gone = new_submission(org), new_submission(org)
    finish(kept.run)
    purge.record_failure(repos, kept.submission.id, org, "injected", Clock(T0))
    assert repos.submissions.find(kept.submission.id).purge_retry_since == T0
    page, _ = repos.sweeps.expired_submissions(T0 + timedelta(days=2), 10)
    assert [s.handed_to_retry for s in page if s.id == kept.submission.id] == [True]
    # A submission that is gone still gets its record, and is not made again.
    repos.document("submissions", gone.submission.id).delete()
    purge.record_failure(repos, gone.submission.id, org, "injected", Clock(T0))
    assert repos.purge_retries.find(gone.submission.id) is not None
    assert not repos.document("submissions", gone.submission.id).get().exists


@pytest.mark.firestore
def test_a_flag_with_no_retry_record_behind_it_does_not_hide_the_submission(org):
    repos = wiring.repositories()
    make_workflow(org, RetentionPolicy.STORE_1_DAY)
    owned, orphaned = new_submission(org), new_submission(org)
    for result in (owned, orphaned):
        finish(result.run)
        purge.record_failure(repos, result.submission.id, org, "injected", Clock(T0))
    repos.document("purge_retries", orphaned.submission.id).delete()  # removed by hand, say

    report = sweep(now=Clock(T0 + timedelta(days=2)))

    assert (report.purged, report.handed_to_retry) == (1, 1)
    assert repos.submissions.find(orphaned.submission.id).content_purged_at is not None
    assert repos.submissions.find(owned.submission.id).content_purged_at is None


class BundleFaults(LocalBlobStore):
    """The real file store: the bundle of `failing` will not delete, and deleting that of
    `touched` first changes its run, as a late write to it could between the output
    sweep's read and its mark."""

    def __init__(self, failing=None, touched=None):
        self.failing, self.touched = failing, touched

    def delete_prefix(self, prefix_uri):
        if self.failing and self.failing in prefix_uri:
            raise OSError("storage unavailable (injected)")
        if self.touched and self.touched in prefix_uri:
            wiring.repositories().document("runs", self.touched).update({"error": "touched"})
        return super().delete_prefix(prefix_uri)


def ended_runs_keeping_outputs_a_day(org, count):
    make_workflow(org, RetentionPolicy.STORE_PERMANENTLY, output=RetentionPolicy.STORE_1_DAY)
    runs = [finish(new_submission(org).run) for _ in range(count)]
    # The order the output sweep reads them in.
    return sorted(runs, key=lambda run: (run.output_expires_at, run.id))


def bundle_of(org, run):
    return path_of(Layout(get_settings().storage_uri).run_prefix(org, run.id))


@pytest.mark.firestore
def test_the_output_sweep_pages_past_a_bundle_storage_will_not_delete(org):
    repos = wiring.repositories()
    runs = ended_runs_keeping_outputs_a_day(org, 3)
    later = Clock(max(run.output_expires_at for run in runs))
    # A page of one at a time: the failed first one must not be read again and again.
    report = sweep(BundleFaults(failing=runs[0].id), later, batch_size=1, max_batches=3)
    assert report.outputs_purged == 2
    assert bundle_of(org, runs[0]).exists()
    assert repos.runs.get(org, runs[0].id).output_expires_at is not None
    assert all(repos.runs.get(org, r.id).output_purged_at for r in runs[1:])

    assert sweep(now=later).outputs_purged == 1
    assert not bundle_of(org, runs[0]).exists()
    assert repos.runs.get(org, runs[0].id).output_purged_at == later()


@pytest.mark.firestore
def test_an_output_mark_waits_when_its_run_changed_since_the_sweep_read_it(org):
    """The page's runs are marked in one commit, on condition that none changed: one
    did, so the others are marked one by one and it is left for the next sweep."""
    repos = wiring.repositories()
    runs = ended_runs_keeping_outputs_a_day(org, 3)
    later = Clock(max(run.output_expires_at for run in runs))
    report = sweep(BundleFaults(touched=runs[1].id), later)
    assert report.outputs_purged == 2
    assert repos.runs.get(org, runs[1].id).output_purged_at is None
    assert all(repos.runs.get(org, r.id).output_purged_at for r in (runs[0], runs[2]))

    assert sweep(now=later).outputs_purged == 1
    assert repos.runs.get(org, runs[1].id).output_purged_at == later()
