"""The Cloud Tasks adapter (the real google-cloud-tasks client, REST) against the local
dispatcher, which delivers like Cloud Tasks: headers, OIDC token, retries with backoff."""

import threading
import time

from werkzeug.wrappers import Request, Response

from devstack.dispatcher import Dispatcher
from devstack.metadata_server import MetadataServer
from shared.adapters.tasks import CloudTasksQueue
from shared.api.auth.id_tokens import verify_id_token
from shared.platform.config import Settings

TASKS = "tasks@p.iam.gserviceaccount.com"


def test_named_tasks_are_delivered_once_with_retries_headers_and_a_token(serve):
    metadata = serve(MetadataServer([TASKS], TASKS, "p"))
    deliveries = []
    delivered = threading.Event()

    def target(environ, start_response):
        request = Request(environ)
        deliveries.append((dict(request.headers), request.get_json()))
        status = 503 if len(deliveries) < 3 else 200
        if status == 200:
            delivered.set()
        return Response("{}", status=status)(environ, start_response)

    launch = serve(target)
    dispatcher = serve(Dispatcher(metadata.url, max_attempts=5, min_backoff=0.05))
    queue = CloudTasksQueue(
        Settings(
            project="p", region="r", tasks_endpoint=dispatcher.url, tasks_service_account=TASKS
        )
    )

    assert queue.enqueue("launch-abc", launch.url, {"run_id": "r1"}, audience=launch.url) is True
    assert queue.enqueue("launch-abc", launch.url, {"run_id": "r1"}, audience=launch.url) is False
    assert delivered.wait(10)
    time.sleep(0.3)  # nothing more may arrive after the 2xx
    assert len(deliveries) == 3
    assert [h["X-Cloudtasks-Taskretrycount"] for h, _ in deliveries] == ["0", "1", "2"]
    headers, body = deliveries[-1]
    assert body == {"run_id": "r1"}
    assert headers["X-Cloudtasks-Taskname"] == "launch-abc"
    assert headers["X-Cloudtasks-Queuename"] == "launches"
    token = headers["Authorization"].split(" ", 1)[1]
    caller = verify_id_token(
        token,
        audience=launch.url,
        allowed_emails={TASKS},
        certs_url=f"{metadata.url}/oauth2/v1/certs",
    )
    assert caller.email == TASKS
