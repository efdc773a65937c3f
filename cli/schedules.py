"""`assay admin schedules`: Cloud Scheduler's jobs, through google-cloud-scheduler.

In the cloud the client uses application-default credentials; on `make up`
ASSAY_SCHEDULER_ENDPOINT points it (REST, anonymous) at the scheduler stand-in, which
answers the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.table import Table

from cli.output import emit, fail, out


def _client() -> Any:
    from google.cloud import scheduler_v1

    from shared.platform.config import get_settings

    endpoint = get_settings().scheduler_endpoint
    if not endpoint:
        return scheduler_v1.CloudSchedulerClient()
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return scheduler_v1.CloudSchedulerClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
        credentials=AnonymousCredentials(),
    )


def _where(project: str | None, location: str | None) -> tuple[str, str]:
    from shared.platform.config import get_settings

    settings = get_settings()
    return project or settings.project, location or settings.region


def _view(job: Any) -> dict[str, Any]:
    def when(stamp: Any) -> str | None:
        return stamp.isoformat() if stamp else None

    return {
        "name": job.name.rsplit("/", 1)[-1],
        "resource": job.name,
        "schedule": job.schedule,
        "time_zone": job.time_zone,
        "state": job.state.name,
        "target": job.http_target.uri,
        "last_attempt": when(job.last_attempt_time),
        "next_run": when(job.schedule_time),
        "last_status": job.status.code or None,
    }


def _call(as_json: bool, action: Callable[[], Any]) -> Any:
    from google.api_core import exceptions

    try:
        return action()
    except exceptions.NotFound as exc:
        fail(as_json, f"no such schedule: {exc.message}")
    except exceptions.GoogleAPICallError as exc:
        fail(as_json, f"Cloud Scheduler refused: {exc.message}", code=2)
    except exceptions.RetryError as exc:
        fail(as_json, f"Cloud Scheduler did not answer: {exc}", code=2)


def _table(views: list[dict[str, Any]]) -> Table:
    table = Table("name", "schedule", "time zone", "state", "last attempt", "next run")
    for v in views:
        table.add_row(
            v["name"],
            v["schedule"],
            v["time_zone"],
            v["state"],
            v["last_attempt"] or "-",
            v["next_run"] or "-",
        )
    return table


@click.group("schedules")
def schedules() -> None:
    """Cloud Scheduler's jobs: the purge and retry ticks."""


def _options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("--json", "as_json", is_flag=True)(command)
    command = click.option("--location", default=None, help="Default: ASSAY_REGION.")(command)
    command = click.option("--project", default=None, help="Default: GOOGLE_CLOUD_PROJECT.")(
        command
    )
    return command


@schedules.command("list")
@_options
def list_schedules(project: str | None, location: str | None, as_json: bool) -> None:
    """Every schedule, its state, last attempt and next run."""
    client = _client()
    parent = client.common_location_path(*_where(project, location))
    jobs = _call(as_json, lambda: list(client.list_jobs(parent=parent)))
    views = sorted((_view(j) for j in jobs), key=lambda v: v["name"])
    if as_json:
        emit(True, {"schedules": views})
    else:
        out.print(_table(views))


def _change(verb: str, name: str, project: str | None, location: str | None, as_json: bool) -> None:
    client = _client()
    path = client.job_path(*_where(project, location), name)
    method = getattr(client, f"{verb}_job")
    view = _view(_call(as_json, lambda: method(name=path)))
    emit(
        as_json,
        {"schedule": view},
        f"{name}: {view['state']}" + (" (run now)" if verb == "run" else ""),
    )


@schedules.command("pause")
@click.argument("name")
@_options
def pause(name: str, project: str | None, location: str | None, as_json: bool) -> None:
    """Stop ticking NAME until it is resumed."""
    _change("pause", name, project, location, as_json)


@schedules.command("resume")
@click.argument("name")
@_options
def resume(name: str, project: str | None, location: str | None, as_json: bool) -> None:
    """Tick NAME on its schedule again."""
    _change("resume", name, project, location, as_json)


@schedules.command("run")
@click.argument("name")
@_options
def run(name: str, project: str | None, location: str | None, as_json: bool) -> None:
    """Tick NAME now (also when paused)."""
    _change("run", name, project, location, as_json)
