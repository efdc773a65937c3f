"""The bodies of the tasks Assay queues for its own `launch` function. Internal, unlike
the validator contract in shared/contract/envelopes.py, and as strict: a task's body is input.
Kept apart from the contract so that a function that only queues (the api, the upload
trigger) loads these two models, not the contract's dozen.

Each body names its kind, and `TASKS` tells them apart by it (decision record 0065).
A task queued before bodies carried a kind is still in the queue across a deploy, so a
body without one is told apart by its shape, as it was then."""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from shared.platform.ids import ID_PATTERN


class TaskKind(StrEnum):
    LAUNCH = "launch"
    CANCEL = "cancel"


class TaskBody(BaseModel):
    # A body from a newer or broken producer must fail loudly, as an envelope does.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class LaunchTask(TaskBody):
    """The body of a task on the `launches` queue."""

    kind: Literal[TaskKind.LAUNCH] = TaskKind.LAUNCH
    run_id: str = Field(pattern=ID_PATTERN)
    step_order: int = Field(ge=0, le=100)
    attempt: int = Field(ge=1)


class CancelTask(TaskBody):
    """A task for the `launch` function to stop the execution of a run that ended (the
    api, which cancels runs, has no rights over jobs; the launch function's identity
    does)."""

    kind: Literal[TaskKind.CANCEL] = TaskKind.CANCEL
    run_id: str = Field(pattern=ID_PATTERN)
    execution_name: str = Field(min_length=1, max_length=500)


def task_kind(body: Any) -> str | None:
    """The kind a body names; for a body without one (queued by a version before kinds),
    the kind its shape meant then: only a cancel carried an `execution_name`. None for
    what is not a body at all, which the union then refuses."""
    if isinstance(body, LaunchTask | CancelTask):
        return body.kind
    if not isinstance(body, dict):
        return None
    if "kind" in body:
        kind = body["kind"]
        return kind if isinstance(kind, str) else None
    return TaskKind.CANCEL if "execution_name" in body else TaskKind.LAUNCH


Task = Annotated[
    Annotated[LaunchTask, Tag(TaskKind.LAUNCH)] | Annotated[CancelTask, Tag(TaskKind.CANCEL)],
    Discriminator(task_kind),
]


# Built on first use: the functions that only queue tasks never parse one.
TASKS: TypeAdapter[LaunchTask | CancelTask] = TypeAdapter(Task, config=ConfigDict(defer_build=True))
