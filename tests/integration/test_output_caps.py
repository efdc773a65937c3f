"""The output caps (decision record 0020) through the callback service, against the
Firestore emulator and file storage: an output over a cap ends its step with an ERROR
finding naming the cap and the numbers; findings beyond their cap are counted exactly
by severity; the callback's memory is bounded by the caps, not by what a job wrote."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.batch import WriteBatch

from shared import wiring
from shared.adapters.storage.local import LocalBlobStore
from shared.contract.envelopes import (
    MAX_ARTIFACTS,
    MAX_FACTS_BYTES,
    MAX_METRIC_NAME_CHARS,
    MAX_METRIC_TEXT_CHARS,
    MAX_METRICS,
    MAX_OUTPUT_BYTES,
    MAX_STORED_FINDINGS,
    MAX_TEXT_CHARS,
    CallbackBody,
    FindingCounts,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
)
from shared.domain.enums import ErrorCategory, RunStatus, Severity, StepStatus
from shared.domain.models import Artifact, Finding
from shared.persistence.firestore.documents import BATCH_LIMIT
from shared.platform.clock import utcnow
from shared.services import callbacks
from shared.services.step_outputs import OutputCap, read_capped, within_caps
from tests.integration.test_flows import callback, claimed, new_run, write_output

MiB = 1024 * 1024
SEVERITIES = (Severity.ERROR, Severity.WARNING, Severity.INFO)
# Firestore refuses a commit of more than 500 writes or 10 MiB; its emulator, a gRPC
# message over 4 MiB.
REQUEST_BYTES = 4 * MiB


def started(flow: Any) -> tuple[Any, str, Any, CallbackBody]:
    """A run whose step is claimed, its output.json a valid one with no findings."""
    repos, org = flow
    run = new_run(repos, org)
    body = write_output(run, claimed(repos, run), OutputStatus.SUCCESS, findings=0)
    return repos, org, run, body


def replace_output(body: CallbackBody, **changes: Any) -> dict[str, Any]:
    """The output.json written for `body`, with `changes`: the parsed document."""
    path = Path(body.result_uri.removeprefix("file://"))
    document = json.loads(path.read_text()) | changes
    path.unlink()
    path.write_text(json.dumps(document))
    return dict(document)


def write_raw(body: CallbackBody, head: dict[str, Any], findings: Iterator[str]) -> int:
    """Writes output.json as `head` plus the given findings' JSON, streamed; its size."""
    path = Path(body.result_uri.removeprefix("file://"))
    prefix = json.dumps(head)[:-1] + ', "findings": ['
    with path.open("w") as out:
        out.write(prefix)
        for index, finding in enumerate(findings):
            out.write(("," if index else "") + finding)
        out.write("]}")
    return path.stat().st_size


def tiny(index: int) -> str:
    """A finding as small as JSON allows: about 45 bytes."""
    return f'{{"severity":"{SEVERITIES[index % 3].value}","code":"c","message":"m"}}'


def wide(index: int) -> str:
    """A finding of about 105 bytes."""
    return tiny(index)[:-1] + f',"path":"/items/{index:07d}/{"v" * 32}"}}'


def exact_counts(total: int) -> Counter[Severity]:
    return Counter(SEVERITIES[i % 3] for i in range(total))


def peak_of(work: Callable[[], Any]) -> tuple[Any, float]:
    """What `work` returns, and the peak of Python memory it allocated, in MiB."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()


def stored_findings(repos: Any, org: str, run_id: str) -> list[Finding]:
    items, token = [], None
    while True:
        page = repos.findings.page(org, run_id, limit=1000, page_token=token)
        items += page.items
        if not page.next_page_token:
            return items
        token = page.next_page_token


def test_a_20_mb_output_is_not_read_and_fails_its_step(
    flow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos, org, run, body = started(flow)
    head = replace_output(body)
    del head["findings"]
    # 200,000 findings of about 105 bytes: over 20 MB, twice the cap.
    size = write_raw(body, head, (wide(i) for i in range(200_000)))
    assert size > 20_000_000
    read = count_reads(monkeypatch)

    outcome, peak = peak_of(lambda: callback(body))

    assert sum(read) <= MAX_OUTPUT_BYTES + 1
    print(f"\n20 MB output.json: peak {peak:.1f} MiB")
    # The old callback read all 20 MB and parsed 200,000 findings: 150 MiB for that alone.
    assert peak < 2.5 * MAX_OUTPUT_BYTES / MiB
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result, stored.error_category) == (
        RunStatus.FAILED,
        "ERROR",
        ErrorCategory.VALIDATOR_ERROR,
    )
    step = stored.steps[0]
    assert step.status is StepStatus.FAILED and "10,485,760 bytes" in step.error
    [finding] = stored_findings(repos, org, run.id)
    assert (finding.severity, finding.code) == (Severity.ERROR, OutputCap.BYTES.value)
    assert "more than 10,485,760 bytes" in finding.message and "10 MiB" in finding.message
    assert (step.summary.total, step.summary.error_count, step.summary.unstored_count) == (1, 1, 0)
    assert stored.summary == step.summary and outcome.replay is False


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spies on what LocalBlobStore hands out of an object it opens for reading."""
    reads: list[int] = []
    real = LocalBlobStore.open_read

    @contextlib.contextmanager
    def open_read(store: LocalBlobStore, uri: str) -> Iterator[Any]:
        with real(store, uri) as handle:
            original = handle.read

            def read(size: int = -1) -> bytes:
                data = original(size)
                reads.append(len(data))
                return data

            handle.read = read  # type: ignore[method-assign]
            yield handle

    monkeypatch.setattr(LocalBlobStore, "open_read", open_read)
    return reads


@pytest.mark.firestore
def test_200_000_findings_within_the_byte_cap_are_stored_to_the_cap_and_counted(
    flow: Any,
) -> None:
    repos, org, run, body = started(flow)
    head = replace_output(body)
    del head["findings"]
    total = 200_000
    size = write_raw(body, head, (tiny(i) for i in range(total)))
    assert size <= MAX_OUTPUT_BYTES
    store = wiring.blob_store()
    # The old callback's first step alone: the whole object read and every finding a model.
    _, old_parse = peak_of(
        lambda: OutputEnvelope.model_validate_json(store.read_bytes(body.result_uri))
    )
    # What the callback builds and then holds while it writes (traced apart from the
    # writes: tracing 20,000 writes' protobufs takes 20 s; they go 500 at a time).
    run_now, step = repos.runs.get(org, run.id), repos.runs.get(org, run.id).steps[0]
    kept, peak = peak_of(
        lambda: callbacks.with_assertions(
            callbacks._read_output(store, body, run_now, step), run_now, step
        )
    )
    print(f"\n200,000 findings, {size / MiB:.1f} MiB: peak {peak:.1f} MiB, old {old_parse:.1f} MiB")
    assert peak < 0.6 * old_parse
    assert peak < 80
    assert len(kept.findings) == MAX_STORED_FINDINGS + 1
    del kept

    outcome = callback(body)

    expected = exact_counts(total)
    summary = repos.runs.get(org, run.id).steps[0].summary
    # Every finding counted by severity, the cap's own note (INFO) too.
    assert (summary.error_count, summary.warning_count, summary.info_count) == (
        expected[Severity.ERROR],
        expected[Severity.WARNING],
        expected[Severity.INFO] + 1,
    )
    assert (summary.total, summary.unstored_count) == (total + 1, total - MAX_STORED_FINDINGS)
    assert repos.findings.count(run.id) == MAX_STORED_FINDINGS + 1
    # Errors were found: the run FAILs (a verdict, not an error: nothing was lost).
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result) == (RunStatus.FAILED, "FAIL")
    assert stored.summary == summary and outcome.run.summary == summary
    [note] = only_caps_at_end(repos, org, run.id)
    assert (note.severity, note.code, note.index) == (
        Severity.INFO,
        OutputCap.FINDINGS.value,
        MAX_STORED_FINDINGS,
    )
    beyond = exact_counts(total) - exact_counts(MAX_STORED_FINDINGS)
    assert (
        f"20,000 findings are stored and 180,000 more ({beyond[Severity.ERROR]:,} ERROR, "
        f"{beyond[Severity.WARNING]:,} WARNING, {beyond[Severity.INFO]:,} INFO)"
    ) in note.message


def only_caps_at_end(repos: Any, org: str, run_id: str) -> list[Finding]:
    """The findings a cap put there: Assay appends them after the validator's."""
    ref = repos.document("runs", run_id).collection("findings")
    query = ref.where(filter=FieldFilter("index", ">=", MAX_STORED_FINDINGS)).stream()
    found = [Finding.model_validate(s.to_dict() | {"id": s.id}) for s in query]
    return [f for f in found if f.code.startswith("output.cap.")]


def test_findings_a_validator_did_not_list_count_in_the_summary_and_the_verdict(
    flow: Any,
) -> None:
    repos, org, run, body = started(flow)
    replace_output(
        body,
        findings=[{"severity": "WARNING", "code": "w", "message": "listed"}],
        unlisted_findings={"error": 0, "warning": 41_999, "info": 7},
    )
    outcome = callback(body)
    summary = outcome.run.steps[0].summary
    assert (summary.warning_count, summary.info_count, summary.error_count) == (42_000, 8, 0)
    assert (summary.total, summary.unstored_count) == (42_008, 42_006)
    assert outcome.run.result == "PASS"  # warnings only, counted or listed
    notes = [f for f in stored_findings(repos, org, run.id) if f.code == OutputCap.FINDINGS]
    assert len(notes) == 1 and "41,999 WARNING, 7 INFO" in notes[0].message


def test_an_unlisted_error_fails_the_step_as_a_listed_one_does(flow: Any) -> None:
    _, _, _, body = started(flow)
    replace_output(body, unlisted_findings={"error": 3})
    failed = callback(body).run
    assert (failed.result, failed.steps[0].summary.error_count) == ("FAIL", 3)
    assert failed.steps[0].summary.unstored_count == 3


@pytest.mark.firestore
def test_a_thousand_artifacts_pass_their_cap_and_fail_the_step(flow: Any) -> None:
    repos, org, run, body = started(flow)
    artifacts = [{"name": f"a{i}.csv", "uri": f"{body.result_uri}.{i}"} for i in range(1000)]
    replace_output(
        body,
        findings=[{"severity": "WARNING", "code": "w", "message": "kept"}],
        artifacts=artifacts,
        metrics={"files": 1},
    )
    outcome = callback(body)
    stored = repos.runs.get(org, run.id)
    assert (stored.status, stored.result, stored.error_category) == (
        RunStatus.FAILED,
        "ERROR",
        ErrorCategory.VALIDATOR_ERROR,
    )
    assert "1,000 artifacts" in stored.steps[0].error and "at most 100" in stored.steps[0].error
    assert list(repos.document("runs", run.id).collection("artifacts").stream()) == []
    found = stored_findings(repos, org, run.id)
    assert [(f.severity, f.code) for f in found] == [
        (Severity.WARNING, "w"),
        (Severity.ERROR, OutputCap.ARTIFACTS.value),
    ]
    assert stored.steps[0].metrics == {"files": 1}  # only what passed the cap is dropped
    summary = outcome.run.steps[0].summary
    assert (summary.total, summary.error_count, summary.warning_count) == (2, 1, 1)


@pytest.mark.parametrize(
    ("metrics", "cap", "says"),
    [
        ({f"m{i}": i for i in range(MAX_METRICS + 1)}, OutputCap.METRICS, "201 metrics"),
        ({"x" * (MAX_METRIC_NAME_CHARS + 1): 1}, OutputCap.METRIC_NAME, "129-character name"),
        ({"label": "y" * (MAX_METRIC_TEXT_CHARS + 1)}, OutputCap.METRIC_TEXT, "257 characters"),
    ],
)
def test_metrics_over_their_caps_fail_the_step(
    flow: Any, metrics: dict[str, Any], cap: OutputCap, says: str
) -> None:
    repos, org, run, body = started(flow)
    replace_output(body, metrics=metrics)
    callback(body)
    stored = repos.runs.get(org, run.id)
    assert (stored.result, stored.error_category) == ("ERROR", ErrorCategory.VALIDATOR_ERROR)
    assert stored.steps[0].metrics == {}
    [finding] = stored_findings(repos, org, run.id)
    assert (finding.severity, finding.code) == (Severity.ERROR, cap.value)
    assert says in finding.message and says in stored.steps[0].error


def test_facts_over_their_cap_fail_the_step_and_are_not_kept(flow: Any) -> None:
    repos, org, run, body = started(flow)
    counts = {f"Type{i:05d}": i for i in range(MAX_FACTS_BYTES // 8)}
    replace_output(body, facts={"zone_count": 3, "object_counts": counts})
    callback(body)
    stored = repos.runs.get(org, run.id)
    assert (stored.result, stored.error_category) == ("ERROR", ErrorCategory.VALIDATOR_ERROR)
    assert stored.steps[0].facts == {}
    [finding] = stored_findings(repos, org, run.id)
    assert (finding.severity, finding.code) == (Severity.ERROR, OutputCap.FACTS.value)
    assert f"at most {MAX_FACTS_BYTES:,}" in finding.message


def test_facts_within_their_cap_are_kept_with_the_step(flow: Any) -> None:
    repos, org, run, body = started(flow)
    facts = {"zone_count": 3, "has_hvac": False, "object_counts": {"Zone": 3, "Material": 12}}
    replace_output(body, facts=facts)
    callback(body)
    assert repos.runs.get(org, run.id).steps[0].facts == facts


@pytest.mark.firestore
def test_at_the_caps_nothing_is_refused(flow: Any) -> None:
    repos, _, run, body = started(flow)
    replace_output(
        body,
        artifacts=[{"name": f"a{i}", "uri": f"{body.result_uri}.{i}"} for i in range(100)],
        metrics={f"{i:0128d}": "z" * MAX_METRIC_TEXT_CHARS for i in range(MAX_METRICS)},
    )
    outcome = callback(body)
    assert outcome.run.result == "PASS"
    assert (
        len(list(repos.document("runs", run.id).collection("artifacts").stream())) == MAX_ARTIFACTS
    )
    assert repos.findings.count(run.id) == 0


def test_long_finding_text_is_cut_where_it_is_stored(flow: Any) -> None:
    repos, org, run, body = started(flow)
    long = "€" * (MAX_TEXT_CHARS * 3)
    replace_output(body, findings=[{"severity": "INFO", "code": "c", "message": long}])
    callback(body)
    [finding] = stored_findings(repos, org, run.id)
    assert len(finding.message) == MAX_TEXT_CHARS and finding.message.endswith("…")


def test_an_invalid_finding_beyond_the_cap_still_makes_the_output_invalid(flow: Any) -> None:
    repos, _, run, body = started(flow)
    head = replace_output(body)
    del head["findings"]
    bad = '{"severity":"FATAL","code":"c","message":"m"}'
    write_raw(body, head, (tiny(i) if i < MAX_STORED_FINDINGS + 5 else bad for i in range(20_010)))
    stored = callback(body).run
    assert (stored.result, stored.error_category) == ("ERROR", ErrorCategory.VALIDATOR_ERROR)
    assert "findings.20005.severity" in stored.steps[0].error
    assert repos.findings.count(run.id) == 0


def commits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Spies on every batch commit: (its writes, their encoded bytes)."""
    seen: list[tuple[int, int]] = []
    real = WriteBatch.commit

    def commit(batch: WriteBatch, *args: Any, **kwargs: Any) -> Any:
        pbs = batch._write_pbs
        seen.append((len(pbs), sum(pb._pb.ByteSize() for pb in pbs)))
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(WriteBatch, "commit", commit)
    return seen


@pytest.mark.firestore
def test_writes_are_batched_within_firestore_s_limits_whatever_their_number_and_size(
    flow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos, org, run, _ = started(flow)
    seen = commits(monkeypatch)
    created = utcnow()
    repos.findings.write_artifacts(
        run.id,
        (
            Artifact(
                id=f"a{i:04d}", org_id=org, run_id=run.id, step_order=0, attempt=1,
                created_at=created, name=f"a{i}", uri=f"file:///a/{i}",
            )
            for i in range(1_200)
        ),
    )  # fmt: skip
    assert [n for n, _ in seen] == [500, 500, 200]
    seen.clear()
    # 600 findings of about 48 KB each (4-byte characters): about 29 MB in all, which
    # 500 at a time would send in two requests of 24 MB and 5 MB.
    text = "😀" * MAX_TEXT_CHARS
    written = repos.findings.write(
        run.id,
        (
            Finding(
                id=f"f{i:04d}", org_id=org, run_id=run.id, step_order=0, step_key="k",
                attempt=1, index=i, created_at=created, severity=Severity.INFO,
                code=text, message=text, path=text,
            )
            for i in range(600)
        ),
    )  # fmt: skip
    assert written == 600 and repos.findings.count(run.id) == 600
    assert sum(n for n, _ in seen) == 600 and len(seen) >= 3
    assert all(n <= BATCH_LIMIT and size <= REQUEST_BYTES for n, size in seen)


def test_read_capped_reads_at_most_one_byte_more_than_the_cap(tmp_path: Path) -> None:
    store = LocalBlobStore()
    uri = (tmp_path / "o.json").as_uri()
    store.write_bytes(uri, b"x" * 101)
    assert read_capped(store, uri, cap=101) == b"x" * 101
    assert read_capped(store, uri, cap=100) is None


def test_the_fast_path_s_outputs_are_capped_as_well() -> None:
    """An output built in the api function (no output.json) gets the same caps."""
    from datetime import UTC, datetime

    from shared.contract.envelopes import Timing, ValidatorRef

    now = datetime(2026, 1, 1, tzinfo=UTC)
    findings = [
        OutputFinding(severity=SEVERITIES[i % 3], code="c", message="m")
        for i in range(MAX_STORED_FINDINGS + 5)
    ]
    output = OutputEnvelope(
        run_id="r", org_id="o", step_order=0, attempt=1, callback_id="c",
        status=OutputStatus.SUCCESS, findings=findings,
        timing=Timing(started_at=now, ended_at=now, duration_ms=0),
        validator=ValidatorRef(name="json-schema", version="1"),
    )  # fmt: skip
    kept = within_caps(output)
    beyond = exact_counts(MAX_STORED_FINDINGS + 5) - exact_counts(MAX_STORED_FINDINGS)
    assert kept.unlisted_findings == FindingCounts(
        error=beyond[Severity.ERROR], warning=beyond[Severity.WARNING], info=beyond[Severity.INFO]
    )
    assert len(kept.findings) == MAX_STORED_FINDINGS + 1
    assert kept.findings[-1].code == OutputCap.FINDINGS.value
