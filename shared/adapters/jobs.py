"""Cloud Run Jobs through the real client library (REST). Locally the endpoint points
at the job-runner stand-in, which answers the same v2 API."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from shared.domain.enums import CloudRunJobStatus
from shared.platform.config import Settings
from shared.platform.errors import Transient


class PermanentJobError(Exception):
    """The Jobs API refused the request in a way no retry will fix (no such job, denied)."""


@dataclass(frozen=True)
class Execution:
    name: str
    status: CloudRunJobStatus
    # What Cloud Run says went wrong (the failed condition's message), if anything.
    error: str | None = None
    # The container image Cloud Run reports for the execution (its template's first
    # container): the run's evidence. None when it reports none.
    image: str | None = None


class JobRunner(Protocol):
    def run(self, job: str, env: dict[str, str], timeout_seconds: int | None = None) -> Execution:
        """Starts an execution with `env` added; `timeout_seconds` overrides the job's
        task timeout (Cloud Run stops the task there)."""
        ...

    def get(self, execution_name: str) -> Execution: ...
    def cancel(self, execution_name: str) -> None: ...
    def find(self, job: str, input_uri: str) -> list[Execution]:
        """The executions of `job` started for the input.json `input_uri`: their INPUT_URI
        names it, or (when INPUT_URI is a signed URL) their INPUT_OBJECT does."""
        ...


def execution_status(execution: Any) -> CloudRunJobStatus:
    """Cloud Run's Execution counters, read as one CloudRunJobStatus."""
    if execution.cancelled_count:
        return CloudRunJobStatus.CANCELLED
    if execution.completion_time:
        task_count = execution.task_count or 1
        if execution.succeeded_count >= task_count:
            return CloudRunJobStatus.SUCCEEDED
        return CloudRunJobStatus.FAILED
    if execution.running_count:
        return CloudRunJobStatus.RUNNING
    return CloudRunJobStatus.PENDING


def execution_image(execution: Any) -> str | None:
    """The image of the execution's container, as Cloud Run reports it."""
    containers = execution.template.containers
    return (str(containers[0].image) or None) if containers else None


def execution_error(execution: Any) -> str | None:
    for condition in execution.conditions:
        if condition.state.name == "CONDITION_FAILED" and condition.message:
            return str(condition.message)
    return None


def _classify(exc: Exception, what: str) -> Exception:
    from google.api_core import exceptions

    code = getattr(exc, "code", None)
    if isinstance(exc, exceptions.GoogleAPICallError) and isinstance(code, int):
        if code in (408, 429) or code >= 500:
            return Transient(f"{what}: {exc}")
        return PermanentJobError(f"{what}: {exc}")
    return Transient(f"{what}: {exc}")


class CloudRunJobs:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _options(self) -> dict[str, Any]:
        if not self.settings.jobs_endpoint:
            return {"transport": "rest"}
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return {
            "transport": "rest",
            "client_options": ClientOptions(api_endpoint=self.settings.jobs_endpoint),
            "credentials": AnonymousCredentials(),
        }

    @cached_property
    def jobs(self) -> Any:
        from google.cloud import run_v2

        return run_v2.JobsClient(**self._options())

    @cached_property
    def executions(self) -> Any:
        from google.cloud import run_v2

        return run_v2.ExecutionsClient(**self._options())

    def job_path(self, job: str) -> str:
        return f"projects/{self.settings.project}/locations/{self.settings.region}/jobs/{job}"

    def run(self, job: str, env: dict[str, str], timeout_seconds: int | None = None) -> Execution:
        from google.api_core import exceptions
        from google.cloud import run_v2
        from google.protobuf import duration_pb2

        overrides = run_v2.RunJobRequest.Overrides(
            container_overrides=[
                run_v2.RunJobRequest.Overrides.ContainerOverride(
                    env=[run_v2.EnvVar(name=k, value=v) for k, v in sorted(env.items())]
                )
            ]
        )
        if timeout_seconds is not None:
            overrides.timeout = duration_pb2.Duration(seconds=timeout_seconds)
        request = run_v2.RunJobRequest(name=self.job_path(job), overrides=overrides)
        try:
            operation = self.jobs.run_job(request=request, timeout=30)
            execution = operation.metadata
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise _classify(exc, f"could not start job {job}") from exc
        return Execution(
            name=execution.name,
            status=execution_status(execution),
            image=execution_image(execution),
        )

    def get(self, execution_name: str) -> Execution:
        from google.api_core import exceptions

        try:
            execution = self.executions.get_execution(name=execution_name, timeout=30)
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise _classify(exc, f"could not read execution {execution_name}") from exc
        return Execution(
            name=execution.name,
            status=execution_status(execution),
            error=execution_error(execution),
            image=execution_image(execution),
        )

    def find(self, job: str, input_uri: str) -> list[Execution]:
        from google.api_core import exceptions

        try:
            listed = list(self.executions.list_executions(parent=self.job_path(job), timeout=30))
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise _classify(exc, f"could not list executions of {job}") from exc
        return [
            Execution(name=e.name, status=execution_status(e), image=execution_image(e))
            for e in listed
            if any(
                v.name in ("INPUT_URI", "INPUT_OBJECT") and v.value == input_uri
                for c in e.template.containers
                for v in c.env
            )
        ]

    def cancel(self, execution_name: str) -> None:
        from google.api_core import exceptions

        try:
            self.executions.cancel_execution(name=execution_name, timeout=30)
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise _classify(exc, f"could not cancel execution {execution_name}") from exc


def get_job_runner(settings: Settings) -> JobRunner:
    return CloudRunJobs(settings)
