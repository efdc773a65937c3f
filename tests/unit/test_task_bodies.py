"""The launch function's task bodies are told apart by their kind, and a body queued by
the version before kinds (none named) by its shape, as that version did (decision
record 0065): delivery is at least once, so such a task may arrive after a deploy."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain.task_bodies import TASKS, CancelTask, LaunchTask

RUN = "a" * 20
LAUNCH = {"run_id": RUN, "step_order": 1, "attempt": 2}
CANCEL = {"run_id": RUN, "execution_name": "projects/p/locations/r/jobs/j/executions/e"}


def test_a_body_names_its_kind_and_parses_back_as_itself() -> None:
    launch = LaunchTask(run_id=RUN, step_order=1, attempt=2)
    cancel = CancelTask(run_id=RUN, execution_name="e")
    assert launch.model_dump(mode="json") == {"kind": "launch", **LAUNCH}
    assert cancel.model_dump(mode="json") == {
        "kind": "cancel",
        "run_id": RUN,
        "execution_name": "e",
    }
    for task in (launch, cancel):
        assert TASKS.validate_python(task.model_dump(mode="json")) == task
        assert TASKS.validate_json(task.model_dump_json()) == task


@pytest.mark.parametrize(
    ("body", "model"),
    [(LAUNCH, LaunchTask), (CANCEL, CancelTask)],
    ids=["launch", "cancel"],
)
def test_a_body_queued_before_kinds_parses_as_it_did(body: dict[str, Any], model: type) -> None:
    task = TASKS.validate_python(body)
    assert type(task) is model
    assert task == model.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "reboot", **LAUNCH},  # a kind this version does not know
        {"kind": None, **LAUNCH},  # named, but not a kind: no falling back on the shape
        {"kind": ["launch"], **LAUNCH},
        {"kind": "launch", **CANCEL},  # a kind the body's fields are not
        {"kind": "cancel", **LAUNCH},
        {**LAUNCH, "execution_name": "e"},  # either shape with the other's field
        {**LAUNCH, "extra": 1},
        [LAUNCH],
        "launch",
        None,
    ],
)
def test_what_is_no_task_body_is_refused(body: Any) -> None:
    with pytest.raises(ValidationError):
        TASKS.validate_python(body)


def test_a_refusal_names_the_field_that_was_wrong() -> None:
    with pytest.raises(ValidationError) as refused:
        TASKS.validate_python({**LAUNCH, "step_order": 101})
    [error] = refused.value.errors()
    assert error["loc"] == ("launch", "step_order")
