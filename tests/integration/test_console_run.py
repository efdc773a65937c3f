"""The console's run page with real runs ended by the callback service: findings paged
by the repository's tokens and filtered by severity, metrics with their assertions'
outcomes, artifacts downloaded (attachments, members of the run's org only), charts'
figures for an FMU's result CSV and EnergyPlus end uses, the polled status, cancel and
re-run by role, and a DO_NOT_STORE run that shows nothing read from storage."""

from __future__ import annotations

import html
import io
import json
import math
import re
import zipfile
from typing import Any

import pytest

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.contract.envelopes import (
    CallbackBody,
    OutputArtifact,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.domain.callers import MemberCaller
from shared.domain.enums import Role, RunStatus, Severity
from shared.domain.models import ValidationRun
from shared.platform.config import get_settings
from shared.services import members, workflows
from shared.services.submissions import IncomingFile, submit
from tests.factories import make_org, workflow_body
from tests.integration.console_harness import (
    AUTHOR,
    STRANGER,
    SUBMITTER,
    VIEWER,
    ConsoleHarness,
)
from tests.integration.test_flows import NOW, callback, claimed

SECRET = "SECRET-51C0FFEE"
FMU_STEP = {
    "name": "Simulate",
    "validator": "fmu",
    "config": {"stop_time": 10, "step_size": 0.5, "outputs": ["level", "flow"]},
}
CSV = "time,level,flow\n" + "".join(f"{t * 0.5},{t * 2.0},{10 - t}\n" for t in range(21))


@pytest.fixture
def site(dispatcher: Any, console: ConsoleHarness) -> ConsoleHarness:
    """The console, with the Cloud Tasks stand-in taking what runs queue."""
    return console


def _fmu(name: str = "model") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("modelDescription.xml", f'<fmiModelDescription modelName="{name}"/>')
    return buffer.getvalue()


def _start(
    site: ConsoleHarness,
    step: dict[str, Any] | None = None,
    retention: str = "STORE_7_DAYS",
    file: tuple[bytes, str, str] = (b'{"name": "Ada"}', "people.json", "application/json"),
    by: Any = None,
) -> ValidationRun:
    body = workflow_body(retention={"submission": retention, "output": "STORE_1_DAY"})
    if step is not None:
        body["steps"] = [step]
    workflows.create_workflow(site.repos, site.org, workflows.WorkflowCreate(**body))
    caller = by or MemberCaller(site.org, SUBMITTER, Role.SUBMITTER)
    return submit(
        site.repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=caller,
        slug="people",
        incoming=IncomingFile(*file),
    ).run


def _end(
    run: ValidationRun,
    findings: list[OutputFinding] = (),  # type: ignore[assignment]
    metrics: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
    validator: str = "json-schema",
    facts: dict[str, Any] | None = None,
) -> None:
    """The step's job as the callback sees it: output.json and the files it stored."""
    repos = wiring.repositories()
    step = claimed(repos, run)
    layout = Layout(get_settings().storage_uri)
    folder = layout.attempt_prefix(run.org_id, run.id, 0, step.attempt)
    store = wiring.blob_store()
    for name, data in (files or {}).items():
        store.write_bytes(folder + name, data)
    output = OutputEnvelope(
        run_id=run.id,
        org_id=run.org_id,
        step_order=0,
        attempt=step.attempt,
        callback_id=step.callback_id,
        status=OutputStatus.FAILED_VALIDATION if findings else OutputStatus.SUCCESS,
        findings=list(findings),
        metrics=metrics or {},
        facts=facts or {},
        artifacts=[
            OutputArtifact(name=n, uri=folder + n, size_bytes=len(d))
            for n, d in (files or {}).items()
        ],
        timing=Timing(started_at=NOW, ended_at=NOW, duration_ms=1),
        validator=ValidatorRef(name=validator, version="1"),
    )
    store.write_bytes(folder + "output.json", output.model_dump_json().encode())
    callback(
        CallbackBody(
            run_id=run.id,
            callback_id=step.callback_id,
            status="success",
            result_uri=folder + "output.json",
        )
    )


def _page(site: ConsoleHarness, path: str, email: str = VIEWER) -> str:
    answer = site.get(path, email=email)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    return str(answer.get_data(as_text=True))


def _messages(page: str) -> list[str]:
    body = page.split('<table class="findings">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td>(m\d+)</td>", body)


def _next(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)">More findings</a>', page)
    return html.unescape(found.group(1)) if found else None


def test_thousands_of_findings_are_paged_and_filtered_by_severity(site: ConsoleHarness) -> None:
    run = _start(site)
    said = [
        OutputFinding(
            severity=Severity.WARNING if i % 5 == 0 else Severity.ERROR,
            code="schema.type",
            message=f"m{i}",
            path=f"/items/{i}",
            line=i + 1,
            column=3,
        )
        for i in range(250)
    ]
    _end(run, said)
    path = f"/orgs/{site.org}/runs/{run.id}"
    first = _page(site, path)
    assert _messages(first) == [f"m{i}" for i in range(100)]
    assert "<code>/items/7</code> line 8, column 3" in first
    second_url = _next(first)
    assert second_url is not None
    second = _page(site, second_url)
    assert _messages(second) == [f"m{i}" for i in range(100, 200)]
    third = _page(site, _next(second) or "")
    assert _messages(third) == [f"m{i}" for i in range(200, 250)]
    assert _next(third) is None and "First findings" in third
    warnings = _page(site, f"{path}?severity=warning")
    assert _messages(warnings) == [f"m{i}" for i in range(0, 250, 5)]
    assert _next(warnings) is None
    assert site.get(f"{path}?severity=loud", email=VIEWER).status_code == 400


def test_metrics_are_shown_with_each_assertions_outcome(site: ConsoleHarness) -> None:
    step = {
        "name": "Schema",
        "validator": "json-schema",
        "config": {"schema": {"type": "object"}},
        "assertions": [
            {"expr": "metrics.files == 1", "message": "one file"},
            {"expr": "metrics.eui_kwh_m2 < 250.0", "message": "EUI too high"},
            {"expr": "metrics.unmet_hours <= 300.0", "severity": "WARNING", "message": "unmet"},
        ],
    }
    run = _start(site, step)
    _end(run, metrics={"files": 1, "eui_kwh_m2": 312.5})
    page = _page(site, f"/orgs/{site.org}/runs/{run.id}")
    assert "<td><code>eui_kwh_m2</code></td><td>312.5</td>" in page
    rows = page.split('<table class="assertions">', 1)[1].split("</table>", 1)[0]
    outcomes = re.findall(r'class="outcome outcome-[a-z-]+">([a-z ]+)</td><td>([^<]*)</td>', rows)
    assert [o for o, _ in outcomes] == ["held", "failed", "error"]
    assert outcomes[1][1] == "EUI too high" and "unmet_hours" in outcomes[2][1]


def test_model_facts_are_shown_and_assertions_on_them_evaluated(site: ConsoleHarness) -> None:
    step = {
        "name": "Schema",
        "validator": "json-schema",
        "config": {"schema": {"type": "object"}},
        "assertions": [{"expr": "model.zone_count > 5", "message": "too few zones"}],
    }
    run = _start(site, step)
    rule = OutputFinding(severity=Severity.ERROR, code="c", message="m0", rule="rule-<7>")
    _end(run, [rule], facts={"zone_count": 3, "object_counts": {"Zone": 3, "Material": 2}})
    page = _page(site, f"/orgs/{site.org}/runs/{run.id}")
    facts = page.split('<table class="facts">', 1)[1].split("</table>", 1)[0]
    assert "<td><code>zone_count</code></td><td>3</td>" in facts
    assert "<code>Material</code> 2, <code>Zone</code> 3" in facts
    rows = page.split('<table class="assertions">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'class="outcome outcome-[a-z-]+">([a-z ]+)</td>', rows) == ["failed"]
    assert "rule <code>rule-&lt;7&gt;</code>" in page


def test_a_running_step_has_its_assertions_not_yet_evaluated(site: ConsoleHarness) -> None:
    step = {
        "name": "Schema",
        "validator": "json-schema",
        "config": {"schema": {"type": "object"}},
        "assertions": [{"expr": "metrics.files == 1", "message": "one file"}],
    }
    run = _start(site, step)
    page = _page(site, f"/orgs/{site.org}/runs/{run.id}")
    assert ">not evaluated</td>" in page


def test_an_fmu_runs_result_downloads_and_is_charted(site: ConsoleHarness) -> None:
    run = _start(site, FMU_STEP, file=(_fmu(), "model.fmu", "application/zip"))
    _end(run, metrics={"level_final": 40.0}, files={"result.csv": CSV.encode()}, validator="fmu")
    path = f"/orgs/{site.org}/runs/{run.id}"
    page = _page(site, path)
    link = f"{path}/artifacts/0/result.csv"
    assert f'href="{link}"' in page
    block = re.search(r'<script type="application/json" id="run-charts">(.*?)</script>', page)
    assert block is not None
    (chart,) = json.loads(block.group(1))
    assert chart["kind"] == "series" and chart["x_label"] == "time"
    assert chart["x"][:3] == [0.0, 0.5, 1.0] and len(chart["x"]) == 21
    assert [s["label"] for s in chart["series"]] == ["level", "flow"]
    assert chart["series"][0]["values"][-1] == 40.0
    # The same figures as a table for those who cannot see the chart.
    assert "<td>level</td><td>0</td><td>0</td><td>40</td><td>40</td>" in page
    download = site.get(link, email=VIEWER)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.get_data(as_text=True) == CSV
    assert "script-src 'self'" in download.headers["Content-Security-Policy"]


def test_an_artifact_is_only_for_members_of_the_runs_org(site: ConsoleHarness) -> None:
    run = _start(site, FMU_STEP, file=(_fmu(), "model.fmu", "application/zip"))
    _end(run, files={"result.csv": CSV.encode()}, validator="fmu")
    link = f"/orgs/{site.org}/runs/{run.id}/artifacts/0/result.csv"
    assert site.get(link, email=STRANGER).status_code == 404
    other, _ = make_org(site.repos, "other")
    members.add_member(site.repos, other, STRANGER, Role.ADMIN)
    elsewhere = f"/orgs/{other}/runs/{run.id}/artifacts/0/result.csv"
    assert site.get(elsewhere, email=STRANGER).status_code == 404
    for missing in ("0/output.json", "0/eplusout.sql", "1/result.csv", "0/..%2Finput.json"):
        assert site.get(f"/orgs/{site.org}/runs/{run.id}/artifacts/{missing}").status_code == 404


def test_energyplus_end_uses_are_charted_as_bars(site: ConsoleHarness) -> None:
    step = {"name": "Simulate", "validator": "energyplus", "config": {}}
    run = _start(site, step, file=(b"Version,24.1;\n", "house.idf", "text/plain"))
    metrics = {"heating_kwh": 1200.5, "cooling_kwh": 800.0, "fans_kwh": None, "pumps_kwh": 50.0}
    _end(run, metrics=metrics, validator="energyplus")
    page = _page(site, f"/orgs/{site.org}/runs/{run.id}")
    block = re.search(r'<script type="application/json" id="run-charts">(.*?)</script>', page)
    assert block is not None
    (chart,) = json.loads(block.group(1))
    assert chart["kind"] == "bars"
    assert chart["labels"] == ["Heating", "Cooling", "Pumps"]
    assert chart["values"] == [1200.5, 800.0, 50.0]
    assert "<td>Heating</td><td>1,200.5</td>" in page
    assert "/assets/vendor/uplot/uPlot.iife.min.js" in page


def test_a_do_not_store_run_shows_nothing_read_from_storage(site: ConsoleHarness) -> None:
    run = _start(
        site, FMU_STEP, "DO_NOT_STORE", file=(_fmu(SECRET), "model.fmu", "application/zip")
    )
    csv = f"time,level\n0,1\n# {SECRET}\n".encode()
    _end(run, metrics={"level_final": 1.0}, files={"result.csv": csv}, validator="fmu")
    assert site.repos.runs.get(site.org, run.id).terminal
    path = f"/orgs/{site.org}/runs/{run.id}"
    page = _page(site, path)
    assert SECRET not in page
    assert "DO_NOT_STORE" in page and "result.csv" not in page and "run-charts" not in page
    assert "<td><code>level_final</code></td><td>1.0</td>" in page  # as the API shows it
    assert site.get(f"{path}/artifacts/0/result.csv", email=VIEWER).status_code == 404


def test_the_status_is_polled_as_json_until_the_run_ends(site: ConsoleHarness) -> None:
    run = _start(site)
    path = f"/orgs/{site.org}/runs/{run.id}"
    page = _page(site, path)
    assert 'data-terminal="false"' in page and f'data-status-url="{path}/status.json"' in page
    assert '<script src="/assets/run.js"></script>' in page
    answer = site.get(f"{path}/status.json", email=VIEWER)
    assert answer.mimetype == "application/json"
    status = answer.get_json()
    assert (status["id"], status["status"], status["terminal"]) == (run.id, "PENDING", False)
    assert [(s["order"], s["status"]) for s in status["steps"]] == [(0, "PENDING")]
    assert set(status["summary"]) >= {"error_count", "warning_count", "info_count"}
    _end(run)
    ended = site.get(f"{path}/status.json", email=VIEWER).get_json()
    assert (ended["status"], ended["result"], ended["terminal"]) == ("SUCCEEDED", "PASS", True)
    assert ended["steps"][0]["status"] == "PASSED" and ended["ended_at"]
    assert 'data-terminal="true"' in _page(site, path)
    gone = site.get(f"{path}/status.json", email=STRANGER)
    assert gone.status_code == 404 and gone.mimetype == "application/problem+json"
    assert site.get(path, email=STRANGER).status_code == 404


def test_a_viewer_can_neither_see_nor_use_cancel_or_rerun(site: ConsoleHarness) -> None:
    run = _start(site)
    path = f"/orgs/{site.org}/runs/{run.id}"
    page = _page(site, path, VIEWER)
    assert "Cancel run" not in page and "Re-run" not in page
    for action in ("cancel", "rerun"):
        refused = site.post(f"{path}/{action}", email=VIEWER)
        assert refused.status_code == 403
        assert "needs the role 'submitter'" in html.unescape(refused.get_data(as_text=True))
    assert site.repos.runs.get(site.org, run.id).status is RunStatus.PENDING


def test_a_submitter_cancels_their_own_run_not_anothers(site: ConsoleHarness) -> None:
    own = _start(site)
    path = f"/orgs/{site.org}/runs/{own.id}"
    assert "Cancel run" in _page(site, path, SUBMITTER)
    headers = site.headers(SUBMITTER)
    forged = site.client.post(f"{path}/cancel", headers=headers, data={"csrf": "x" * 43})
    assert forged.status_code == 403
    done = site.post(f"{path}/cancel", email=SUBMITTER)
    assert done.status_code == 303 and done.headers["Location"] == f"{path}?done=cancelled"
    assert site.repos.runs.get(site.org, own.id).status is RunStatus.CANCELED
    assert "The run was cancelled." in _page(site, done.headers["Location"], SUBMITTER)
    others = _start_again(site, by=MemberCaller(site.org, AUTHOR, Role.AUTHOR))
    theirs = f"/orgs/{site.org}/runs/{others.id}"
    assert "Cancel run" not in _page(site, theirs, SUBMITTER)
    assert site.post(f"{theirs}/cancel", email=SUBMITTER).status_code == 403
    assert "Cancel run" in _page(site, theirs, AUTHOR)


def _start_again(site: ConsoleHarness, by: Any) -> ValidationRun:
    """Another run of the workflow `_start` created."""
    return submit(
        site.repos,
        wiring.blob_store(),
        wiring.task_queue(),
        get_settings(),
        key=by,
        slug="people",
        incoming=IncomingFile(b'{"name": "Bo"}', "bo.json", "application/json"),
    ).run


def test_a_submitter_reruns_their_ended_run(site: ConsoleHarness) -> None:
    run = _start(site)
    _end(run)
    path = f"/orgs/{site.org}/runs/{run.id}"
    page = _page(site, path, SUBMITTER)
    assert "Re-run" in page and "Cancel run" not in page
    answer = site.post(f"{path}/rerun", email=SUBMITTER)
    assert answer.status_code == 303
    new_id = answer.headers["Location"].split("/runs/", 1)[1].split("?", 1)[0]
    assert new_id != run.id
    again = site.repos.runs.get(site.org, new_id)
    assert again.submission_id == run.submission_id and again.status is RunStatus.PENDING
    assert "A new run of the same submission was started." in _page(
        site, answer.headers["Location"], SUBMITTER
    )


def test_the_submission_is_described_never_shown(site: ConsoleHarness) -> None:
    run = _start(site, file=(f'{{"name": "{SECRET}"}}'.encode(), "people.json", "application/json"))
    page = _page(site, f"/orgs/{site.org}/runs/{run.id}")
    assert "people.json" in page and "STORE_7_DAYS" in page and "kept (not shown here)" in page
    assert SECRET not in page


def test_a_long_result_is_charted_from_its_start_in_at_most_a_thousand_points() -> None:
    from shared.console.pages import run as page
    from shared.domain.models import StepRun

    rows = "".join(f"{t},{t % 7},nan\n" for t in range(5000))
    data = f"time,a,b\n{rows}".encode()
    step = StepRun(order=0, key="s", name="Sim", validator="fmu")
    chart = page.series_chart(step, data[:30000], cut=True)
    assert chart is not None and "the file's start" in chart.title
    drawn = chart.data
    assert len(drawn["x"]) <= page.CHART_POINTS and drawn["x"][0] == 0.0
    assert all(v is None for v in drawn["series"][1]["values"])  # NaN is no figure
    read = data[:30000].decode()
    whole = read[: read.rfind("\n") + 1].count("\n") - 1  # the rows wholly read
    stride = math.ceil(whole / page.CHART_POINTS)
    assert whole - stride <= drawn["x"][-1] <= whole - 1
    assert chart.rows[1] == ["b", "", "", "", ""]
