"""Each execution reaches only its own files (decision record 0024), on the local stack
as in Google Cloud: a job process started by the job runner cannot open the storage
folder by path, and the URLs its launch signed reach exactly its objects; the gate
refuses one moved to another object, a signature reused for another, and one expired."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.job_runner import JobRunner
from devstack.metadata_server import MetadataServer
from devstack.signed_url_gate import SignedUrlGate
from shared.adapters.jobs import CloudRunJobs
from shared.adapters.signing import IamSigner
from shared.adapters.storage import BlobExists, signed
from shared.adapters.storage.layout import Layout
from shared.contract.envelopes import InputEnvelope, InputFile, ValidatorRef
from shared.domain.enums import CloudRunJobStatus
from shared.platform.config import Settings
from shared.platform.errors import NotConfigured
from shared.services.launches import UrlSigner, signed_envelope
from tests.integration.conftest import WORKER_SA
from tests.integration.test_jobs_adapter import settle


def test_a_job_process_cannot_open_another_runs_file_by_path(serve: Any, tmp_path: Path) -> None:
    secret = tmp_path / "storage" / "runs" / "other-org" / "other-run" / "model.idf"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(b"another customer's model")
    repository_data = Path(__file__).resolve().parents[2] / "pyproject.toml"
    runner = JobRunner(tmp_path / "logs", job_prefix="test-", module_prefix="tests.jobs.")
    jobs = CloudRunJobs(Settings(jobs_endpoint=serve(runner).url, project="p", region="r"))
    # The code it runs is in view, so a refusal is the sandbox's, not a broken probe.
    code = Path(__file__).resolve()
    probes = [str(secret), str(secret.parent), str(repository_data), str(code)]

    execution = jobs.run("test-prober", {"PROBE_PATHS": ":".join(probes)})

    assert settle(jobs, execution.name) is CloudRunJobStatus.SUCCEEDED
    (log,) = (tmp_path / "logs").iterdir()
    said = log.read_text().splitlines()
    assert said == [
        f"refused {secret} FileNotFoundError",
        f"refused {secret.parent} FileNotFoundError",
        f"refused {repository_data} FileNotFoundError",
        f"read {code}",
    ]
    assert secret.read_bytes() == b"another customer's model"  # it is there to be read


class Clock:
    skew = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skew


@pytest.fixture
def world(serve: Any, tmp_path: Path) -> tuple[Settings, Layout, Clock]:
    metadata = serve(MetadataServer([WORKER_SA], WORKER_SA, "assay-test"))
    storage = (tmp_path / "storage").as_uri()
    certs = metadata.url + "/service_accounts/v1/metadata/x509/{email}"
    clock = Clock()
    gate = serve(SignedUrlGate({"storage": storage}, certs, now=clock))
    settings = Settings(
        storage_uri=storage,
        job_url_signer=WORKER_SA,
        iam_endpoint=metadata.url,
        signed_url_endpoint=gate.url,
    )
    return settings, Layout(storage), clock


def _bundle(layout: Layout, run_id: str, content: bytes) -> InputEnvelope:
    """A run's bundle file on disk, and the envelope of its step 0, attempt 1."""
    uri = layout.bundle_file("org", run_id, "model.json")
    path = Path(uri.removeprefix("file://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    item = InputFile(
        name="model.json",
        uri=uri,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        content_type="application/json",
    )
    return InputEnvelope(
        run_id=run_id,
        org_id="org",
        step_order=0,
        step_key="s",
        attempt=1,
        validator=ValidatorRef(name="fmu", version="1"),
        files=[item],
        callback_url="http://127.0.0.1:9/callback",
        callback_id="c" * 32,
        output_uri=layout.output_envelope("org", run_id, 0, 1),
        timeout_seconds=60,
    )


def _signed(world: tuple[Settings, Layout, Clock], run_id: str, content: bytes) -> InputEnvelope:
    settings, layout, _ = world
    urls = UrlSigner(settings, IamSigner(settings, WORKER_SA), layout, 60)
    return signed_envelope(_bundle(layout, run_id, content), urls)


def _query(url: str) -> str:
    return url.split("?", 1)[1]


def test_a_jobs_urls_reach_its_own_objects_and_no_other(world: Any) -> None:
    mine = _signed(world, "A" * 20, b'{"mine": true}')
    other = _signed(world, "B" * 20, b'{"theirs": true}')
    url, theirs = mine.files[0].url or "", other.files[0].url or ""
    assert requests.get(url, timeout=10).content == b'{"mine": true}'

    # My signature on another run's path, and another object's signature on mine.
    moved = url.split("?")[0].replace("A" * 20, "B" * 20) + "?" + _query(url)
    grafted = url.split("?")[0] + "?" + _query(theirs)
    for forged in (moved, grafted):
        answer = requests.get(forged, timeout=10)
        assert answer.status_code == 403, answer.text
        assert "SignatureDoesNotMatch" in answer.text and "theirs" not in answer.text
    # A URL to create my output cannot read it, nor anything else.
    assert requests.get(mine.output_url or "", timeout=10).status_code == 403


def test_outputs_are_created_once_through_their_url(world: Any) -> None:
    mine = _signed(world, "A" * 20, b"{}")
    output = mine.output_url or ""
    signed.create(output, b'{"status": "success"}', "application/json")
    with pytest.raises(BlobExists):
        signed.create(output, b'{"status": "forged"}', "application/json")
    # Sent without its signed create-only header, the PUT is refused outright.
    answer = requests.put(output, data=b"{}", timeout=10)
    assert answer.status_code == 403 and "x-goog-if-generation-match" in answer.text
    stored = Path(mine.output_uri.removeprefix("file://")).read_bytes()
    assert json.loads(stored) == {"status": "success"}
    # Only the artifacts its validator declares get a URL (fmu: its result and comparison).
    assert sorted(mine.artifact_urls) == ["reference_comparison.csv", "result.csv"]


def test_an_expired_url_is_refused(world: Any) -> None:
    _, _, clock = world
    url = _signed(world, "A" * 20, b"{}").files[0].url or ""
    clock.skew = timedelta(seconds=60) + timedelta(minutes=15, seconds=1)
    answer = requests.get(url, timeout=10)
    # Cloud Storage answers an expired V4 URL with 400 ExpiredToken; so does the gate.
    assert answer.status_code == 400 and "ExpiredToken" in answer.text


def test_only_a_caller_holding_the_secret_signs_as_the_worker(serve: Any) -> None:
    """The local IAM stand-in checks what Google's checks (the caller's signBlob on the
    account): a job process, given no secret, cannot sign as the worker for itself."""
    metadata = serve(MetadataServer([WORKER_SA], None, "assay-test", {WORKER_SA: "s3cret"}))
    base = Settings(iam_endpoint=metadata.url, job_url_signer=WORKER_SA)
    worker = IamSigner(base.model_copy(update={"iam_local_secret": "s3cret"}), WORKER_SA)
    assert len(worker.sign_bytes(b"x")) == 256
    for secret in (None, "guessed"):
        intruder = IamSigner(base.model_copy(update={"iam_local_secret": secret}), WORKER_SA)
        with pytest.raises(NotConfigured, match=r"iam\.serviceAccounts\.signBlob.*assayUrlSigner"):
            intruder.sign_bytes(b"x")
