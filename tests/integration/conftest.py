from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from functions_framework import create_app

from devstack.dispatcher import Dispatcher
from tests.factories import make_org


@dataclass
class ApiHarness:
    client: Any
    repos: Any
    org: str
    key: str
    dispatcher: Dispatcher

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(), **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        headers = self.headers(**kwargs.pop("headers", {}))
        return self.client.post(path, headers=headers, **kwargs)

    def tasks(self) -> list[Any]:
        return list(self.dispatcher.tasks.values())


@pytest.fixture
def dispatcher(serve: Any, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Dispatcher:
    """The Cloud Tasks stand-in; tasks are recorded, delivery to the (absent) launch
    function is tried once."""
    instance = Dispatcher("http://127.0.0.1:9", max_attempts=1, min_backoff=0.01)
    server = serve(instance)
    monkeypatch.setenv("ASSAY_TASKS_ENDPOINT", server.url)
    monkeypatch.setenv("ASSAY_LAUNCH_URL", "http://127.0.0.1:9/launch")
    monkeypatch.setenv("ASSAY_TASKS_SERVICE_ACCOUNT", "tasks@assay-test.iam.gserviceaccount.com")
    return instance


@pytest.fixture
def api(repos: Any, dispatcher: Dispatcher) -> ApiHarness:
    from shared import wiring

    wiring.reset()
    org, key = make_org(repos)
    client = create_app(target="api", source="functions/main.py").test_client()
    return ApiHarness(client, wiring.repositories(), org, key, dispatcher)


@pytest.fixture
def flow(repos: Any, dispatcher: Dispatcher) -> tuple[Any, str]:
    """Repositories and an org, with the Cloud Tasks stand-in recording tasks."""
    from shared import wiring

    wiring.reset()
    repos = wiring.repositories()
    org, _ = make_org(repos)
    return repos, org


WORKER_SA = "assay-worker@assay-test.iam.gserviceaccount.com"


def sign_job_urls(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Launches sign each execution's URLs as the worker (the IAM stand-in), and the
    gate serves them over the storage folder: a fake job run by the job runner, which
    cannot open that folder, reads and writes through them as a real one does."""
    import os

    from devstack.metadata_server import MetadataServer
    from devstack.signed_url_gate import SignedUrlGate
    from shared import wiring
    from shared.adapters.storage.layout import UploadsLayout

    metadata = serve(MetadataServer([WORKER_SA], WORKER_SA, "assay-test"))
    storage = os.environ["ASSAY_STORAGE_URI"]
    certs = metadata.url + "/service_accounts/v1/metadata/x509/{email}"
    gate = serve(SignedUrlGate({UploadsLayout(storage).bucket: storage}, certs))
    for key, value in {
        "ASSAY_JOB_URL_SIGNER": WORKER_SA,
        "ASSAY_IAM_ENDPOINT": metadata.url,
        "ASSAY_SIGNED_URL_ENDPOINT": gate.url,
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()


from tests.integration.console_harness import console  # noqa: E402, F401  (a fixture)
