"""Every producer of the launch function's tasks sends a body that names its kind
(decision record 0065): the api's first launch, reconcile's re-queued launch and a
run's cancel, as the Cloud Tasks stand-in records them."""

from __future__ import annotations

import json
from typing import Any

from shared import wiring
from shared.domain.task_bodies import TASKS, CancelTask, LaunchTask
from shared.platform.config import get_settings
from shared.services.dispatch import enqueue_cancel
from tests.factories import make_org
from tests.integration.test_reconcile import later, new_run, passes


def bodies(dispatcher: Any) -> list[dict[str, Any]]:
    return [json.loads(t.body) for t in dispatcher.tasks.values()]


def test_the_first_launch_and_the_relaunch_name_their_kind(repos: Any, dispatcher: Any) -> None:
    wiring.reset()
    org, _ = make_org(wiring.repositories())
    run = new_run(wiring.repositories(), org)
    [first] = bodies(dispatcher)
    assert first == {"kind": "launch", "run_id": run.id, "step_order": 0, "attempt": 1}

    queued = set(dispatcher.tasks)
    assert passes(later(minutes=3))().healed["relaunched"] == 1
    # The step was never claimed, so its attempt is still the first; the task is named apart.
    [(name, again)] = [
        (n, json.loads(t.body)) for n, t in dispatcher.tasks.items() if n not in queued
    ]
    assert name.startswith(next(iter(queued)) + "-")
    assert again == first
    assert TASKS.validate_python(again) == LaunchTask(run_id=run.id, step_order=0, attempt=1)


def test_a_cancel_names_its_kind(repos: Any, dispatcher: Any) -> None:
    wiring.reset()
    run_id, execution = "b" * 20, "projects/p/locations/r/jobs/j/executions/e"
    assert enqueue_cancel(wiring.task_queue(), get_settings(), run_id, execution)
    [body] = bodies(dispatcher)
    assert body == {"kind": "cancel", "run_id": run_id, "execution_name": execution}
    assert TASKS.validate_python(body) == CancelTask(run_id=run_id, execution_name=execution)
