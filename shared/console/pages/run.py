"""One run: its status (polled while it runs), its steps and their timings, the
submission's record (never its content), findings paged by the repository's own page
tokens and filtered by severity, each step's metrics with its assertions' outcomes,
the artifacts to download, charts of them, and cancel and re-run for those whose role
allows.

Under DO_NOT_STORE the page shows what the API shows (findings and metrics, which the
callback rebuilt from parts that cannot carry the file's text, decision record 0027)
and nothing read from storage: no artifact and no chart drawn from one. The purge
deletes them as the run ends; the console does not offer them in between."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from flask import Response

from shared import wiring
from shared.adapters.storage import BlobNotFound, BlobStore
from shared.adapters.storage.layout import Layout
from shared.console.app import Context, page
from shared.contract.validator_jobs import JOBS
from shared.domain.assertions import Assertion, evaluate
from shared.domain.enums import RetentionPolicy, Role, Severity, StepStatus
from shared.domain.evidence import Manifest, digest
from shared.domain.models import StepRun, Submission, ValidationRun
from shared.platform.config import get_settings
from shared.platform.errors import BadRequest, NotFound
from shared.services import evidence, queries, runs
from shared.services.callbacks import earlier_steps
from shared.services.step_outputs import read_head

PAGE_SIZE = 100
# A chart reads at most this much of a CSV and draws at most this many points a series:
# a long simulation's file is downloaded, not shipped whole into the page.
CHART_BYTES = 4 * 2**20
CHART_POINTS = 1000
CHART_SERIES = 8
CHUNK = 256 * 1024
FMU_RESULT = "result.csv"
# The EnergyPlus metrics that are end uses (validators/energyplus/tables.py), in kWh.
END_USES = {
    "heating_kwh": "Heating",
    "cooling_kwh": "Cooling",
    "interior_lighting_kwh": "Interior lighting",
    "fans_kwh": "Fans",
    "pumps_kwh": "Pumps",
}
DOWNLOAD_TYPES = {".csv": "text/csv", ".err": "text/plain"}
# What a redirect after a change may say: fixed sentences, never text from the request.
NOTICES = {
    "cancelled": "The run was cancelled.",
    "rerun": "A new run of the same submission was started.",
}


class Outcome(StrEnum):
    HELD = "held"
    FAILED = "failed"
    ERROR = "error"
    NOT_EVALUATED = "not evaluated"  # the step's check did not finish


@dataclass(frozen=True)
class AssertionOutcome:
    assertion: Assertion
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class StepView:
    step: StepRun
    metrics: list[tuple[str, Any]]
    assertions: list[AssertionOutcome]
    artifacts: list[str] = field(default_factory=list)
    facts: list[tuple[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    """What run.js draws (`data`), and the same figures as a table for those who
    cannot see it (`rows` under `columns`)."""

    id: str
    title: str
    data: dict[str, Any]
    columns: list[str]
    rows: list[list[str]]


def _run(ctx: Context) -> queries.RunRow:
    return queries.run(ctx.repos, ctx.org_id, ctx.args["run"])


def _keeps_nothing(run: ValidationRun) -> bool:
    return run.submission_retention is RetentionPolicy.DO_NOT_STORE


def _assertions(run: ValidationRun, step: StepRun) -> list[AssertionOutcome]:
    """Each assertion's outcome, evaluated again on the metrics the step kept: the callback
    evaluated the same expressions on the same metrics (shared/domain/assertions.py), so
    no finding need be searched for among thousands."""
    declared = run.config[step.order].assertions if step.order < len(run.config) else []
    if not declared:
        return []
    if step.timings.check_started_at is None:
        return [AssertionOutcome(a, Outcome.NOT_EVALUATED) for a in declared]
    seen = evaluate(declared, step.metrics, step.facts, earlier_steps(run, step))
    found = {f["path"]: f for f in seen}
    outcomes = []
    for index, assertion in enumerate(declared):
        finding = found.get(f"assertions[{index}]")
        if finding is None:
            outcomes.append(AssertionOutcome(assertion, Outcome.HELD))
        elif finding["code"] == "assertion.failed":
            outcomes.append(AssertionOutcome(assertion, Outcome.FAILED, finding["message"]))
        else:
            outcomes.append(AssertionOutcome(assertion, Outcome.ERROR, finding["message"]))
    return outcomes


def _artifact_uri(run: ValidationRun, step: StepRun, name: str) -> str:
    layout = Layout(get_settings().storage_uri)
    return layout.attempt_prefix(run.org_id, run.id, step.order, step.attempt) + name


def _declared(step: StepRun) -> tuple[str, ...]:
    job = JOBS.get(step.validator)
    return job.artifacts if job is not None else ()


def _offered(run: ValidationRun, step: StepRun) -> tuple[str, ...]:
    """The files a step's job may have stored, when the run's outputs are still kept."""
    if _keeps_nothing(run) or run.output_purged_at is not None or step.attempt < 1:
        return ()
    if step.status not in (StepStatus.PASSED, StepStatus.FAILED):
        return ()
    return _declared(step)


def _present(store: BlobStore, uri: str) -> bool:
    """Whether the object exists: its first byte read (Cloud Storage's reader is lazy)."""
    try:
        with store.open_read(uri) as reader:
            reader.read(1)
    except BlobNotFound:
        return False
    return True


def _steps(run: ValidationRun, store: BlobStore) -> list[StepView]:
    views = []
    for step in run.steps:
        stored = [n for n in _offered(run, step) if _present(store, _artifact_uri(run, step, n))]
        views.append(
            StepView(
                step,
                sorted(step.metrics.items()),
                _assertions(run, step),
                stored,
                sorted(step.facts.items()),
            )
        )
    return views


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _table(data: bytes, cut: bool) -> tuple[list[str], list[list[float | None]]]:
    """The CSV's header and columns of numbers; a cut file loses its last, partial line."""
    text = data.decode("utf-8", errors="replace")
    if cut:
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or len(rows[0]) < 2:
        return [], []
    header = [name.strip() for name in rows[0]][: CHART_SERIES + 1]
    columns: list[list[float | None]] = [[] for _ in header]
    for row in rows[1:]:
        if len(row) < len(header):
            continue
        for column, cell in zip(columns, row, strict=False):
            column.append(_number(cell))
    return header, columns


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _summary_row(name: str, values: list[float | None]) -> list[str]:
    known = [v for v in values if v is not None]
    if not known:
        return [name, "", "", "", ""]
    return [name, _figure(known[0]), _figure(min(known)), _figure(max(known)), _figure(known[-1])]


def series_chart(step: StepRun, data: bytes, cut: bool) -> Chart | None:
    """An FMU's outputs over time from its result CSV (`time`, then one column each)."""
    header, columns = _table(data, cut)
    if not header or not columns[0]:
        return None
    stride = max(1, math.ceil(len(columns[0]) / CHART_POINTS))
    drawn = {
        "kind": "series",
        "x_label": header[0],
        "x": columns[0][::stride],
        "series": [
            {"label": name, "values": column[::stride]}
            for name, column in zip(header[1:], columns[1:], strict=True)
        ],
    }
    title = f"{step.name}: outputs over {header[0]}" + (" (the file's start)" if cut else "")
    return Chart(
        id=f"chart-{step.order}-series",
        title=title,
        data=drawn,
        columns=["Output", "First", "Least", "Greatest", "Last"],
        rows=[_summary_row(n, c) for n, c in zip(header[1:], columns[1:], strict=True)],
    )


def _finite(value: Any) -> bool:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return numeric and math.isfinite(value)


def end_use_chart(step: StepRun) -> Chart | None:
    """An EnergyPlus run's end uses, from the metrics it reported, as bars."""
    uses = [
        (label, float(step.metrics[name]))
        for name, label in END_USES.items()
        if _finite(step.metrics.get(name))
    ]
    if not uses:
        return None
    return Chart(
        id=f"chart-{step.order}-end-uses",
        title=f"{step.name}: end uses (kWh)",
        data={"kind": "bars", "labels": [u for u, _ in uses], "values": [v for _, v in uses]},
        columns=["End use", "kWh"],
        rows=[[label, f"{value:,.1f}"] for label, value in uses],
    )


def _charts(run: ValidationRun, steps: list[StepView], store: BlobStore) -> list[Chart]:
    charts: list[Chart] = []
    for view in steps:
        step = view.step
        if step.validator == "energyplus":
            charts += [c for c in [end_use_chart(step)] if c is not None]
        if FMU_RESULT in view.artifacts and step.validator == "fmu":
            try:
                data, cut = read_head(store, _artifact_uri(run, step, FMU_RESULT), CHART_BYTES)
            except BlobNotFound:
                continue
            charts += [c for c in [series_chart(step, data, cut)] if c is not None]
    return charts


def _may_act(ctx: Context, submission: Submission | None) -> bool:
    """Whether the role lets this member cancel or re-run this run: the rule
    runs.cancel_run and runs.rerun apply."""
    return ctx.allows(Role.SUBMITTER) and runs.acts_on(ctx.caller, submission)


def _content_kept(submission: Submission | None) -> bool:
    if submission is None or submission.content_purged_at is not None:
        return False
    return bool(submission.content or submission.input_file)


def _severity(ctx: Context) -> str | None:
    raw = ctx.request.args.get("severity") or None
    if raw is not None and raw.upper() not in Severity.__members__:
        raise BadRequest(f"severity must be one of {', '.join(Severity)}, not {raw[:64]!r}")
    return raw.upper() if raw else None


def _findings_url(ctx: Context, severity: str | None, token: str | None) -> str:
    query = {k: v for k, v in {"severity": severity, "page_token": token}.items() if v}
    base = f"/orgs/{ctx.org_id}/runs/{ctx.args['run']}"
    return f"{base}?{urlencode(query)}#findings" if query else f"{base}#findings"


def _evidence(ctx: Context, run: ValidationRun) -> tuple[Manifest | None, str | None]:
    """The run's evidence manifest and its digest; none before the run has ended (or
    for a run that ended before evidence was recorded)."""
    found = ctx.repos.evidence.find(ctx.org_id, run.id) if run.terminal else None
    return found, digest(found) if found is not None else None


@page(Role.VIEWER)
def evidence_json(ctx: Context) -> Response:
    """The manifest as the API serves it (GET /v1/orgs/{org}/runs/{run}/evidence)."""
    found = evidence.manifest(ctx.repos, ctx.org_id, ctx.args["run"])
    return Response(found.model_dump_json(), mimetype="application/json")


@page(Role.VIEWER)
def show(ctx: Context) -> Response:
    row = _run(ctx)
    run, store = row.run, wiring.blob_store()
    severity = _severity(ctx)
    token = ctx.request.args.get("page_token") or None
    found = queries.findings(
        ctx.repos, ctx.org_id, run.id, severity=severity, limit=PAGE_SIZE, page_token=token
    )
    steps = _steps(run, store)
    charts = _charts(run, steps, store)
    may_act = _may_act(ctx, row.submission)
    manifest, manifest_sha256 = _evidence(ctx, run)
    return ctx.render(
        "run.html",
        run=run,
        manifest=manifest,
        manifest_sha256=manifest_sha256,
        submission=row.submission,
        content_kept=_content_kept(row.submission),
        keeps_nothing=_keeps_nothing(run),
        steps=steps,
        charts=charts,
        chart_data=[{"id": c.id, "title": c.title, **c.data} for c in charts],
        findings=found.items,
        severity=severity,
        severities=list(Severity),
        paged=token is not None,
        first_page=_findings_url(ctx, severity, None),
        next_page=_findings_url(ctx, severity, found.next_page_token)
        if found.next_page_token
        else None,
        may_cancel=may_act and not run.terminal,
        may_rerun=may_act and _content_kept(row.submission),
        notice=NOTICES.get(ctx.request.args.get("done", "")),
    )


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def status_of(run: ValidationRun) -> dict[str, Any]:
    """What run.js polls: the run's status and each step's, with their times."""
    return {
        "id": run.id,
        "status": run.status.value,
        "result": run.result.value,
        "terminal": run.terminal,
        "started_at": _time(run.started_at),
        "ended_at": _time(run.ended_at),
        "duration_ms": run.duration_ms,
        "summary": run.summary.model_dump(mode="json"),
        "steps": [
            {
                "order": s.order,
                "key": s.key,
                "status": s.status.value,
                "started_at": _time(s.started_at),
                "ended_at": _time(s.ended_at),
                "errors": s.summary.error_count,
                "warnings": s.summary.warning_count,
            }
            for s in run.steps
        ],
    }


@page(Role.VIEWER)
def status(ctx: Context) -> Response:
    # Polled every 2 s while the run lives: the run alone, not its submission.
    body = status_of(ctx.repos.runs.get(ctx.org_id, ctx.args["run"]))
    return Response(json.dumps(body, separators=(",", ":")), mimetype="application/json")


def _stream(store: BlobStore, uri: str) -> Iterator[bytes]:
    """The object in chunks; the first is read before the response starts, so a missing
    object is a 404 rather than a cut download."""
    reader = store.open_read(uri)
    handle = reader.__enter__()
    try:
        first = handle.read(CHUNK)
    except BaseException as exc:
        reader.__exit__(type(exc), exc, exc.__traceback__)
        raise

    def rest() -> Iterator[bytes]:
        try:
            yield first
            while part := handle.read(CHUNK):
                yield part
        finally:
            reader.__exit__(None, None, None)

    return rest()


@page(Role.VIEWER)
def artifact(ctx: Context) -> Response:
    """A step's stored file, as a download: never shown inline, whatever it holds."""
    run = _run(ctx).run
    order, name = int(ctx.args["step"]), ctx.args["name"]
    step = run.steps[order] if 0 <= order < len(run.steps) else None
    if step is None or name not in _offered(run, step):
        raise NotFound(f"run {run.id!r} has no artifact {name[:64]!r} in step {order}")
    try:
        chunks = _stream(wiring.blob_store(), _artifact_uri(run, step, name))
    except BlobNotFound:
        raise NotFound(f"step {order} of run {run.id!r} stored no {name[:64]!r}") from None
    kind = DOWNLOAD_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    filename = f"{run.id}-{order}-{name}"
    return Response(
        chunks,
        mimetype=kind,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        direct_passthrough=True,
    )


@page(Role.SUBMITTER)
def cancel(ctx: Context) -> Response:
    run_id = ctx.args["run"]
    runs.cancel_run(
        ctx.repos,
        wiring.task_queue(),
        get_settings(),
        ctx.org_id,
        run_id,
        caller=ctx.caller,
        by=ctx.by(),
    )
    return ctx.redirect(f"/orgs/{ctx.org_id}/runs/{run_id}?done=cancelled")


@page(Role.SUBMITTER)
def rerun(ctx: Context) -> Response:
    row = _run(ctx)
    if row.submission is None:
        raise NotFound(f"run {row.run.id!r} has no submission left to run again")
    settings, caller = get_settings(), ctx.caller
    with wiring.admission().submission(ctx.repos, settings, ctx.org_id):  # 429 at the limit
        run, _ = runs.rerun(
            ctx.repos,
            wiring.task_queue(),
            settings,
            ctx.org_id,
            row.submission.id,
            caller.id,
            caller=caller,
            by=ctx.by(),
        )
    return ctx.redirect(f"/orgs/{ctx.org_id}/runs/{run.id}?done=rerun")
