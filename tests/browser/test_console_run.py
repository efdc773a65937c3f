"""The run page in a real browser: a finished FMU and EnergyPlus run draws its charts
with the vendored uPlot under the console's Content-Security-Policy, beside tables of
the same figures, and passes axe-core's check; a running run's page follows its status
and reloads once it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from shared import wiring
from shared.adapters.storage.layout import Layout
from shared.domain.enums import (
    ErrorCategory,
    Execution,
    RetentionPolicy,
    Role,
    RunStatus,
    Severity,
    StepStatus,
)
from shared.domain.models import (
    Finding,
    Member,
    Organization,
    StepRun,
    StepTimings,
    Submission,
    Summary,
    ValidationRun,
    WorkflowStep,
)
from shared.platform.config import get_settings
from tests.browser.console import (
    ConsoleDriver,
    assert_accessible,
    console_errors,
    screenshot,
    sign_in,
)

# Fixed ids and times: the screenshot stays the same from run to run.
CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ADMIN = "ada@example.com"
CSV = "time,level,flow\n" + "".join(f"{t * 0.5},{(t % 10) * 2.0},{10 - t / 2}\n" for t in range(41))
END_USES = {
    "heating_kwh": 5120.4,
    "cooling_kwh": 2310.9,
    "interior_lighting_kwh": 1804.2,
    "fans_kwh": 640.0,
    "pumps_kwh": 120.5,
}


def _org(repos: Any, org_id: str) -> None:
    repos.orgs.create(Organization(id=org_id, name="Acme", created_at=CREATED))
    member = Member(org_id=org_id, email=ADMIN, role=Role.ADMIN, added_at=CREATED, added_by="cli")
    repos.members.add(member)


def _step(order: int, validator: str, status: StepStatus, **fields: Any) -> StepRun:
    at = CREATED + timedelta(seconds=10 * order)
    ended = status in (StepStatus.PASSED, StepStatus.FAILED)
    return StepRun(
        order=order,
        key=f"{validator}-{order}",
        name="Simulate" if validator == "fmu" else "Energy model",
        validator=validator,
        validator_version="1.0.0",
        status=status,
        attempt=1,
        started_at=at,
        ended_at=at + timedelta(seconds=8) if ended else None,
        timings=StepTimings(
            check_started_at=at + timedelta(seconds=1) if ended else None,
            check_ended_at=at + timedelta(seconds=7) if ended else None,
        ),
        **fields,
    )


def _run(
    repos: Any, org: str, run_id: str, status: RunStatus, steps: list[StepRun], **fields: Any
) -> None:
    submission = Submission(
        id=f"{run_id[:16]}Subm",
        org_id=org,
        api_key_id=f"member:{ADMIN}",
        workflow_id="w",
        workflow_slug="plant",
        workflow_version=1,
        input_file="file:///nowhere/model.fmu",
        original_filename="plant.fmu",
        content_type="application/zip",
        file_type="fmu",
        size_bytes=48213,
        checksum_sha256="0" * 64,
        retention_policy=RetentionPolicy.STORE_30_DAYS,
        latest_run_id=run_id,
        run_ids=[run_id],
        created_at=CREATED,
    )
    run = ValidationRun(
        id=run_id,
        org_id=org,
        submission_id=submission.id,
        workflow_id="w",
        workflow_slug="plant",
        workflow_version=1,
        status=status,
        created_at=CREATED,
        started_at=CREATED,
        config=[WorkflowStep(key=s.key, name=s.name, validator=s.validator) for s in steps],
        steps=steps,
        execution=Execution.JOB,
        **fields,
    )
    repos.transact(lambda t: (t.create(submission), t.create(run)))


def _finished(repos: Any, org: str, run_id: str = "RunPageFinished00001") -> str:
    findings = Summary(total=3, error_count=1, warning_count=2)
    steps = [
        _step(0, "fmu", StepStatus.PASSED, metrics={"level_final": 0.0, "level_max": 18.0}),
        _step(1, "energyplus", StepStatus.FAILED, metrics=END_USES, summary=findings),
    ]
    steps[1].error = "1 error(s) found"
    _run(
        repos,
        org,
        run_id,
        RunStatus.FAILED,
        steps,
        error_category=ErrorCategory.VALIDATION_FAILED,
        error="step 'energyplus-1' found 1 error(s)",
        ended_at=CREATED + timedelta(seconds=28),
        duration_ms=28000,
        summary=findings,
    )
    folder = Layout(get_settings().storage_uri).attempt_prefix(org, run_id, 0, 1)
    wiring.blob_store().write_bytes(folder + "result.csv", CSV.encode())
    repos.findings.write(
        run_id,
        [
            Finding(
                id=f"{run_id}-{i}",
                org_id=org,
                run_id=run_id,
                step_order=1,
                step_key="energyplus-1",
                attempt=1,
                index=i,
                severity=severity,
                code=code,
                message=message,
                path=path,
                created_at=CREATED,
            )
            for i, (severity, code, message, path) in enumerate(
                [
                    (Severity.ERROR, "energyplus.severe", "A zone has no thermostat", "/Zone/1"),
                    (Severity.WARNING, "energyplus.warning", "Unmet hours above 300", None),
                    (Severity.WARNING, "energyplus.warning", "Weather file is a design day", None),
                ]
            )
        ],
    )
    return run_id


def test_a_finished_run_shows_its_charts_and_is_accessible(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    org = "RunPageOrg0000000001"
    _org(console_repos, org)
    run_id = _finished(console_repos, org)

    sign_in(browser, ADMIN)
    browser.open(f"/orgs/{org}/runs/{run_id}")
    assert "FAILED" in browser.text() and "A zone has no thermostat" in browser.text()
    charts = browser.find_elements(By.CSS_SELECTOR, ".chart canvas")
    assert len(charts) == 2, browser.page_source[:3000]  # uPlot drew both
    assert browser.find_element(By.ID, "chart-1-end-uses-table").is_displayed()
    assert console_errors(browser) == []
    screenshot(browser, "run")
    browser.execute_script("arguments[0].scrollIntoView()", charts[0])
    screenshot(browser, "run-charts")
    assert_accessible(browser, "the run page")


def test_a_running_runs_page_follows_it_and_reloads_when_it_ends(
    browser: ConsoleDriver, console_repos: Any
) -> None:
    org = "RunPageOrg0000000002"
    _org(console_repos, org)
    run_id = "RunPageRunning000001"
    _run(console_repos, org, run_id, RunStatus.RUNNING, [_step(0, "fmu", StepStatus.RUNNING)])

    sign_in(browser, ADMIN)
    browser.open(f"/orgs/{org}/runs/{run_id}")
    section = browser.find_element(By.ID, "run")
    assert section.get_attribute("data-terminal") == "false"
    assert "Cancel run" in browser.text()

    run = console_repos.runs.get(org, run_id)
    run.steps[0].status, run.steps[0].ended_at = StepStatus.PASSED, CREATED + timedelta(seconds=9)
    run.status, run.ended_at = RunStatus.SUCCEEDED, CREATED + timedelta(seconds=9)
    console_repos.transact(lambda t: t.save(run))

    def ended(driver: Any) -> bool:
        found = driver.find_elements(By.CSS_SELECTOR, '#run[data-terminal="true"]')
        return bool(found)

    WebDriverWait(browser, 20).until(ended)
    assert "SUCCEEDED" in browser.text() and "Cancel run" not in browser.text()
    # A poll cut short by the reload (or slow on a loaded machine) is the network's, not
    # the page's: the page retries it. Anything else (a script error, a CSP refusal) is.
    assert [e for e in console_errors(browser) if "status.json" not in e] == []
