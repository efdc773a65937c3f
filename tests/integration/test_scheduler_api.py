"""The scheduler stand-in through the real google-cloud-scheduler client (REST): it
answers Cloud Scheduler v1's list, get, pause, resume and run for the schedules of
infra/units.json, and its ticks follow what those methods set."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import scheduler_v1
from werkzeug.wrappers import Request, Response

from devstack import units
from devstack.metadata_server import MetadataServer
from devstack.scheduler import Scheduler
from shared.api.auth.id_tokens import verify_id_token

SCHEDULER = "scheduler@p.iam.gserviceaccount.com"


class Receiver:
    """A function that counts the ticks it gets, by schedule body and token."""

    def __init__(self) -> None:
        self.ticks: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.ticks.append({"path": request.path, "headers": dict(request.headers)})
        return Response("{}", mimetype="application/json")(environ, start_response)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for t in self.ticks if t["path"] == path)


@pytest.fixture
def stand_in(serve: Any) -> Iterator[tuple[Any, Receiver, Any, Scheduler]]:
    metadata = serve(MetadataServer([SCHEDULER], SCHEDULER, "p"))
    receiver = Receiver()
    target = serve(receiver)
    functions = {s["function"] for s in units.load().schedules}
    urls = {f: f"{target.url}/{f}" for f in functions}
    scheduler = Scheduler(metadata.url, SCHEDULER, urls, project="p", location="r", every=0.2)
    threading.Thread(target=scheduler.run_forever, daemon=True).start()
    server = serve(scheduler)
    client = scheduler_v1.CloudSchedulerClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=server.url),
        credentials=AnonymousCredentials(),
    )
    yield client, receiver, metadata, scheduler
    scheduler.stop()


def _wait(condition: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_list_answers_every_schedule_of_units_json(stand_in: Any) -> None:
    client, _, _, _ = stand_in
    jobs = list(client.list_jobs(parent=client.common_location_path("p", "r")))
    expected = {s["name"]: s for s in units.load().schedules}
    assert {j.name.rsplit("/", 1)[-1] for j in jobs} == set(expected)
    for job in jobs:
        schedule = expected[job.name.rsplit("/", 1)[-1]]
        assert job.name.startswith("projects/p/locations/r/jobs/")
        assert job.schedule == schedule["cron"]
        assert job.time_zone == "Etc/UTC"
        assert job.state == scheduler_v1.Job.State.ENABLED
        assert job.http_target.uri.endswith("/" + schedule["function"])
        assert job.http_target.oidc_token.service_account_email == SCHEDULER
        assert job.http_target.oidc_token.audience == job.http_target.uri
        assert (
            json.loads(base64.b64decode(base64.b64encode(job.http_target.body)))
            == (schedule["body"])
        )


def test_pause_stops_the_ticks_and_resume_starts_them(stand_in: Any) -> None:
    client, receiver, _, _ = stand_in
    name = client.job_path("p", "r", "process-purge-retries")
    assert _wait(lambda: receiver.count("/retry") >= 1), "the schedule never ticked"

    paused = client.pause_job(name=name)
    assert paused.state == scheduler_v1.Job.State.PAUSED
    assert client.get_job(name=name).state == scheduler_v1.Job.State.PAUSED
    time.sleep(0.3)  # a tick already started may still land
    before = receiver.count("/retry")
    time.sleep(1.0)  # five intervals
    assert receiver.count("/retry") == before
    assert receiver.count("/purge") > 0  # the other schedule goes on

    assert client.resume_job(name=name).state == scheduler_v1.Job.State.ENABLED
    assert _wait(lambda: receiver.count("/retry") > before)


def test_run_ticks_now_with_a_token_for_the_target_even_when_paused(stand_in: Any) -> None:
    client, receiver, metadata, scheduler = stand_in
    scheduler.every = 3600.0
    name = client.job_path("p", "r", "purge-expired")
    client.pause_job(name=name)
    before = receiver.count("/purge")

    ran = client.run_job(name=name)
    assert ran.state == scheduler_v1.Job.State.PAUSED
    assert _wait(lambda: receiver.count("/purge") == before + 1)
    tick = [t for t in receiver.ticks if t["path"] == "/purge"][-1]
    token = tick["headers"]["Authorization"].split(" ", 1)[1]
    url = client.get_job(name=name).http_target.uri
    caller = verify_id_token(
        token, audience=url, allowed_emails={SCHEDULER}, certs_url=f"{metadata.url}/oauth2/v1/certs"
    )
    assert caller.email == SCHEDULER
    assert client.get_job(name=name).last_attempt_time is not None


def test_unknown_jobs_and_places_are_not_found(stand_in: Any) -> None:
    client, _, _, _ = stand_in
    with pytest.raises(exceptions.NotFound):
        client.get_job(name=client.job_path("p", "r", "nope"))
    with pytest.raises(exceptions.NotFound):
        client.pause_job(name=client.job_path("p", "elsewhere", "purge-expired"))
    with pytest.raises(exceptions.NotFound):
        list(client.list_jobs(parent=client.common_location_path("other", "r")))
