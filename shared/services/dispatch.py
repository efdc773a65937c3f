"""Queueing a step launch, or an execution's cancel. A launch task is named from (run,
step, attempt), a cancel from the execution, so queueing either twice, from a retry or
a replay, yields one task. Each body carries its kind (decision record 0065)."""

from __future__ import annotations

from shared.adapters.tasks import TaskQueue
from shared.domain.task_bodies import CancelTask, LaunchTask
from shared.platform.config import Settings
from shared.platform.ids import stable_id


def launch_task_id(run_id: str, step_order: int, attempt: int) -> str:
    return "launch-" + stable_id(run_id, step_order, attempt)


def enqueue_launch(
    queue: TaskQueue,
    settings: Settings,
    run_id: str,
    step_order: int,
    attempt: int,
    *,
    name_suffix: str = "",
) -> bool:
    """`name_suffix` names a re-queued launch apart from its first task (see reconcile)."""
    task = LaunchTask(run_id=run_id, step_order=step_order, attempt=attempt)
    return queue.enqueue(
        launch_task_id(run_id, step_order, attempt) + name_suffix,
        settings.launch_url,
        task.model_dump(mode="json"),
        audience=settings.launch_url,
    )


def enqueue_cancel(queue: TaskQueue, settings: Settings, run_id: str, execution_name: str) -> bool:
    task = CancelTask(run_id=run_id, execution_name=execution_name)
    return queue.enqueue(
        "cancel-" + stable_id(execution_name),
        settings.launch_url,
        task.model_dump(mode="json"),
        audience=settings.launch_url,
    )
