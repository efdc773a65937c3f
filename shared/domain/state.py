"""The run and step state machines: the only place that decides which moves are legal.

A terminal run never changes again; `state` and `result` are derived from `status`
and `error_category`, never stored independently of them.
"""

from __future__ import annotations

from shared.domain.enums import ErrorCategory, RunResult, RunState, RunStatus, StepStatus

TERMINAL_RUN_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TIMED_OUT}
)

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # A run can end before it ever starts: a launch that fails for good, a cancel.
    RunStatus.PENDING: frozenset(
        {RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TIMED_OUT}
    ),
    RunStatus.RUNNING: frozenset(
        {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TIMED_OUT}
    ),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELED: frozenset(),
    RunStatus.TIMED_OUT: frozenset(),
}

TERMINAL_STEP_STATUSES = frozenset({StepStatus.PASSED, StepStatus.FAILED, StepStatus.SKIPPED})

STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED, StepStatus.FAILED}),
    # RUNNING -> PENDING releases a launch claim whose job never started, so a
    # retried launch task can take it again.
    StepStatus.RUNNING: frozenset(
        {StepStatus.PASSED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.PENDING}
    ),
    StepStatus.PASSED: frozenset(),
    StepStatus.FAILED: frozenset(),
    StepStatus.SKIPPED: frozenset(),
}


class InvalidTransition(Exception):
    """A move the state machine does not allow."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot move from {current} to {target}")
        self.current = current
        self.target = target


def is_terminal(status: RunStatus) -> bool:
    return status in TERMINAL_RUN_STATUSES


def check_run_transition(current: RunStatus, target: RunStatus) -> None:
    if target not in RUN_TRANSITIONS[current]:
        raise InvalidTransition("run", current, target)


def check_step_transition(current: StepStatus, target: StepStatus) -> None:
    if target not in STEP_TRANSITIONS[current]:
        raise InvalidTransition("step", current, target)


def derive_state(status: RunStatus) -> RunState:
    if status is RunStatus.PENDING:
        return RunState.PENDING
    if status is RunStatus.RUNNING:
        return RunState.RUNNING
    return RunState.COMPLETED


def derive_result(status: RunStatus, error_category: ErrorCategory | None) -> RunResult:
    match status:
        case RunStatus.SUCCEEDED:
            return RunResult.PASS
        case RunStatus.FAILED:
            # FAIL only when the validators found errors; anything else is ERROR.
            if error_category is ErrorCategory.VALIDATION_FAILED:
                return RunResult.FAIL
            return RunResult.ERROR
        case RunStatus.CANCELED:
            return RunResult.CANCELED
        case RunStatus.TIMED_OUT:
            return RunResult.TIMED_OUT
        case _:
            return RunResult.UNKNOWN
