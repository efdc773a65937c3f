"""The bodies of the tasks Assay queues for its own `launch` function. Internal, unlike
the validator contract in shared/contract/envelopes.py, and as strict: a task's body is input.
Kept apart from the contract so that a function that only queues (the api, the upload
trigger) loads these two models, not the contract's dozen."""

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.ids import ID_PATTERN


class TaskBody(BaseModel):
    # A body from a newer or broken producer must fail loudly, as an envelope does.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class LaunchTask(TaskBody):
    """The body of a task on the `launches` queue."""

    run_id: str = Field(pattern=ID_PATTERN)
    step_order: int = Field(ge=0, le=100)
    attempt: int = Field(ge=1)


class CancelTask(TaskBody):
    """A task for the `launch` function to stop the execution of a run that ended (the
    api, which cancels runs, has no rights over jobs; the launch function's identity
    does)."""

    run_id: str = Field(pattern=ID_PATTERN)
    execution_name: str = Field(min_length=1, max_length=500)
