from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.enums import ErrorCategory, RunResult, RunState, RunStatus, StepStatus
from shared.domain.models import StepRun, ValidationRun, WorkflowStep
from shared.domain.state import (
    RUN_TRANSITIONS,
    STEP_TRANSITIONS,
    TERMINAL_RUN_STATUSES,
    InvalidTransition,
    check_run_transition,
    check_step_transition,
    derive_result,
    derive_state,
)

ALLOWED_RUN = sorted((a, b) for a, targets in RUN_TRANSITIONS.items() for b in targets)
REFUSED_RUN = [(a, b) for a in RunStatus for b in RunStatus if b not in RUN_TRANSITIONS[a]]
ALLOWED_STEP = sorted((a, b) for a, targets in STEP_TRANSITIONS.items() for b in targets)
REFUSED_STEP = [(a, b) for a in StepStatus for b in StepStatus if b not in STEP_TRANSITIONS[a]]

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_run(steps: int = 2) -> ValidationRun:
    return ValidationRun(
        id="r",
        org_id="o",
        workflow_id="w",
        workflow_slug="s",
        workflow_version=1,
        created_at=NOW,
        config=[WorkflowStep(key=f"k{i}", name="n", validator="json-schema") for i in range(steps)],
        steps=[
            StepRun(order=i, key=f"k{i}", name="n", validator="json-schema") for i in range(steps)
        ],
    )


def test_the_expected_moves_are_allowed() -> None:
    assert set(ALLOWED_RUN) == {
        (RunStatus.PENDING, RunStatus.RUNNING),
        (RunStatus.PENDING, RunStatus.FAILED),
        (RunStatus.PENDING, RunStatus.CANCELED),
        (RunStatus.PENDING, RunStatus.TIMED_OUT),
        (RunStatus.RUNNING, RunStatus.SUCCEEDED),
        (RunStatus.RUNNING, RunStatus.FAILED),
        (RunStatus.RUNNING, RunStatus.CANCELED),
        (RunStatus.RUNNING, RunStatus.TIMED_OUT),
    }


@pytest.mark.parametrize(("current", "target"), ALLOWED_RUN)
def test_every_allowed_run_transition(current: RunStatus, target: RunStatus) -> None:
    check_run_transition(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED_RUN)
def test_every_other_run_transition_is_refused(current: RunStatus, target: RunStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_run_transition(current, target)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_RUN_STATUSES))
def test_a_terminal_run_never_changes(terminal: RunStatus) -> None:
    for target in RunStatus:
        with pytest.raises(InvalidTransition):
            check_run_transition(terminal, target)


@pytest.mark.parametrize(("current", "target"), ALLOWED_STEP)
def test_every_allowed_step_transition(current: StepStatus, target: StepStatus) -> None:
    check_step_transition(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED_STEP)
def test_every_other_step_transition_is_refused(current: StepStatus, target: StepStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_step_transition(current, target)


@pytest.mark.parametrize(
    ("status", "state"),
    [(RunStatus.PENDING, RunState.PENDING), (RunStatus.RUNNING, RunState.RUNNING)]
    + [(s, RunState.COMPLETED) for s in sorted(TERMINAL_RUN_STATUSES)],
)
def test_state_is_derived_from_status(status: RunStatus, state: RunState) -> None:
    assert derive_state(status) is state


@pytest.mark.parametrize(
    ("status", "category", "result"),
    [
        (RunStatus.PENDING, None, RunResult.UNKNOWN),
        (RunStatus.RUNNING, None, RunResult.UNKNOWN),
        (RunStatus.SUCCEEDED, None, RunResult.PASS),
        (RunStatus.FAILED, ErrorCategory.VALIDATION_FAILED, RunResult.FAIL),
        (RunStatus.FAILED, ErrorCategory.VALIDATOR_ERROR, RunResult.ERROR),
        (RunStatus.FAILED, ErrorCategory.LAUNCH_FAILED, RunResult.ERROR),
        (RunStatus.FAILED, ErrorCategory.SYSTEM_ERROR, RunResult.ERROR),
        (RunStatus.FAILED, None, RunResult.ERROR),
        (RunStatus.CANCELED, ErrorCategory.CANCELED, RunResult.CANCELED),
        (RunStatus.TIMED_OUT, ErrorCategory.TIMEOUT, RunResult.TIMED_OUT),
    ],
)
def test_result_is_derived_from_status_and_category(
    status: RunStatus, category: ErrorCategory | None, result: RunResult
) -> None:
    assert derive_result(status, category) is result


def test_run_model_derives_and_stores_state_and_result() -> None:
    run = make_run()
    run.start(NOW)
    run.finish(
        RunStatus.FAILED,
        NOW + timedelta(seconds=2),
        error_category=ErrorCategory.VALIDATION_FAILED,
        error="bad",
    )
    dumped = run.model_dump()
    assert (dumped["state"], dumped["result"]) == (RunState.COMPLETED, RunResult.FAIL)
    assert run.duration_ms == 2000
    # Steps that never ran are recorded as skipped.
    assert [s.status for s in run.steps] == [StepStatus.SKIPPED, StepStatus.SKIPPED]
    with pytest.raises(InvalidTransition):
        run.finish(RunStatus.SUCCEEDED, NOW)
    assert run.status is RunStatus.FAILED
