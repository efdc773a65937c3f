"""The task queue (Cloud Tasks). One implementation, the real client library; locally
its endpoint points at the dispatcher stand-in, which answers the same REST API, or at
gcloud-tasks-emulator, which answers gRPC."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Protocol

from shared.platform.config import Settings
from shared.platform.errors import Transient


class TaskQueue(Protocol):
    def enqueue(self, task_id: str, url: str, payload: dict[str, Any], *, audience: str) -> bool:
        """Queues an authenticated POST of `payload` to `url`. Returns False when a task
        of that id already exists (Cloud Tasks de-duplicates named tasks)."""
        ...


def _headers() -> dict[str, str]:
    """The delivery's headers: JSON, and this request's trace so the run stays one trace."""
    from shared.platform.logs import traceparent

    headers = {"Content-Type": "application/json"}
    parent = traceparent()
    if parent:
        headers["traceparent"] = parent
    return headers


class CloudTasksQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> Any:
        from google.cloud import tasks_v2

        if self.settings.tasks_emulator_host:
            import grpc
            from google.cloud.tasks_v2.services.cloud_tasks.transports import (
                CloudTasksGrpcTransport,
            )

            channel = grpc.insecure_channel(self.settings.tasks_emulator_host)
            return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        if self.settings.tasks_endpoint:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials

            return tasks_v2.CloudTasksClient(
                transport="rest",
                client_options=ClientOptions(api_endpoint=self.settings.tasks_endpoint),
                credentials=AnonymousCredentials(),
            )
        return tasks_v2.CloudTasksClient()

    def enqueue(self, task_id: str, url: str, payload: dict[str, Any], *, audience: str) -> bool:
        from google.api_core import exceptions
        from google.cloud import tasks_v2

        s = self.settings
        parent = self.client.queue_path(s.project, s.region, s.tasks_queue)
        task = tasks_v2.Task(
            name=f"{parent}/tasks/{task_id}",
            http_request=tasks_v2.HttpRequest(
                http_method=tasks_v2.HttpMethod.POST,
                url=url,
                headers=_headers(),
                body=json.dumps(payload).encode(),
                oidc_token=tasks_v2.OidcToken(
                    service_account_email=s.tasks_service_account, audience=audience
                ),
            ),
        )
        try:
            self.client.create_task(
                request=tasks_v2.CreateTaskRequest(parent=parent, task=task), timeout=10
            )
        except exceptions.Conflict:
            return False
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise Transient(f"could not queue task {task_id}: {exc}") from exc
        return True


def get_queue(settings: Settings) -> TaskQueue:
    return CloudTasksQueue(settings)
