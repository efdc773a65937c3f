"""The validator runtime end to end in one process: envelope in, output.json out, and
an authenticated callback, including when the validator crashes."""

import importlib
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.wrappers import Request, Response

from devstack.metadata_server import MetadataServer
from shared.adapters.storage.local import LocalBlobStore
from shared.api.auth.id_tokens import verify_id_token
from shared.contract.envelopes import InputEnvelope, InputFile, OutputEnvelope, ValidatorRef
from validators import runtime
from validators.json_schema.validator import validate as json_schema_validate

VALIDATOR = "validator@p.iam.gserviceaccount.com"


@pytest.fixture
def harness(serve, tmp_path, monkeypatch):
    # A job's process imports the runtime as it starts, and its deadline counts from
    # then; this test process imported it long ago (the suite's earlier tests).
    monkeypatch.setattr(runtime, "_PROCESS_STARTED", time.monotonic())
    metadata = MetadataServer([VALIDATOR], VALIDATOR, "p")
    meta = serve(metadata)
    received = []
    failures = {"left": 0}

    def callback_app(environ, start_response):
        request = Request(environ)
        if failures["left"]:
            failures["left"] -= 1
            return Response("busy", status=503)(environ, start_response)
        received.append((request.headers.get("Authorization", ""), request.get_json()))
        return Response("{}", mimetype="application/json")(environ, start_response)

    callback = serve(callback_app)
    host = meta.url.split("//")[1]
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    from google.auth.compute_engine import _metadata

    importlib.reload(_metadata)
    store = LocalBlobStore()
    data = b'{"name": 5}'
    file_uri = (tmp_path / "runs/o/r/p.json").as_uri()
    store.write_bytes(file_uri, data)
    import hashlib

    envelope = InputEnvelope(
        run_id="R" * 20,
        org_id="o",
        step_order=0,
        step_key="k",
        attempt=1,
        validator=ValidatorRef(name="json-schema", version="1.0.0"),
        config={"schema": {"properties": {"name": {"type": "string"}}}},
        files=[
            InputFile(
                name="p.json",
                uri=file_uri,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                content_type="application/json",
            )
        ],
        callback_url=callback.url,
        callback_id="c" * 32,
        output_uri=(tmp_path / "runs/o/r/steps/0/1/output.json").as_uri(),
        timeout_seconds=60,
    )
    input_uri = (tmp_path / "runs/o/r/steps/0/1/input.json").as_uri()
    store.write_bytes(input_uri, envelope.model_dump_json().encode())
    monkeypatch.setenv("INPUT_URI", input_uri)
    yield SimpleNamespace(
        envelope=envelope, received=received, failures=failures, certs=f"{meta.url}/oauth2/v1/certs"
    )
    monkeypatch.undo()
    importlib.reload(_metadata)


def read_output(envelope):
    return OutputEnvelope.model_validate_json(LocalBlobStore().read_bytes(envelope.output_uri))


def test_findings_are_written_and_called_back_with_an_id_token(harness):
    envelope, received, certs = harness.envelope, harness.received, harness.certs
    assert runtime.run(json_schema_validate, name="json-schema", version="1.0.0") == 0
    output = read_output(envelope)
    assert (output.status, [f.path for f in output.findings]) == ("failed_validation", ["/name"])
    assert output.callback_id == "c" * 32 and output.timing.ended_at <= datetime.now(UTC)
    [(authorization, body)] = received
    assert body == {
        "schema_version": "assay.callback/1",
        "run_id": "R" * 20,
        "callback_id": "c" * 32,
        "status": "failed_validation",
        "result_uri": envelope.output_uri,
    }
    caller = verify_id_token(
        authorization.split(" ", 1)[1],
        audience=envelope.callback_url,
        allowed_emails={VALIDATOR},
        certs_url=certs,
    )
    assert caller.email == VALIDATOR


def test_a_crash_still_writes_failed_runtime_and_calls_back(harness):
    envelope, received = harness.envelope, harness.received

    def explode(envelope, files):
        raise RuntimeError("disk on fire")

    assert runtime.run(explode, name="json-schema", version="1.0.0") == 1
    output = read_output(envelope)
    assert (output.status, output.error) == ("failed_runtime", "RuntimeError: disk on fire")
    assert received[0][1]["status"] == "failed_runtime"


def test_a_tampered_input_file_is_a_runtime_failure(harness):
    envelope, received = harness.envelope, harness.received
    LocalBlobStore().write_bytes(envelope.files[0].uri, b'{"name": "changed"}')
    assert runtime.run(json_schema_validate, name="json-schema", version="1.0.0") == 1
    assert "checksum" in read_output(envelope).error
    assert received[0][1]["status"] == "failed_runtime"


def test_the_callback_is_retried_through_server_errors(harness):
    harness.failures["left"] = 2
    assert runtime.run(json_schema_validate, name="json-schema", version="1.0.0") == 0
    assert len(harness.received) == 1 and harness.failures["left"] == 0


def test_a_job_started_without_input_uri_is_refused(harness, monkeypatch, caplog):
    monkeypatch.delenv("INPUT_URI")
    assert runtime.run(json_schema_validate, name="json-schema", version="1.0.0") == 2
    assert "INPUT_URI is not set" in caplog.text
    assert harness.received == []


def test_a_check_killed_at_its_deadline_leaves_no_copy_of_the_input(harness, tmp_path):
    import tempfile
    import time as clock

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    envelope = harness.envelope

    def stuck(envelope, files):
        # As an engine does: its own scratch folder, holding the input by hard link.
        folder = Path(tempfile.mkdtemp(prefix="engine-"))
        files[0][1].place(folder / "model")
        clock.sleep(3600)

    tempfile.tempdir = str(scratch)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(runtime, "_left", lambda seconds: 2.0)
            assert runtime.run(stuck, name="json-schema", version="1.0.0") == 1
    finally:
        tempfile.tempdir = None
    assert read_output(envelope).status == "timed_out"
    assert list(scratch.iterdir()) == []  # the job's folder, with the engine's inside it


def test_an_output_json_it_did_not_write_is_refused_and_not_called_back(harness):
    envelope, received = harness.envelope, harness.received
    forged = b'{"status": "success", "metrics": {"y_final": 1000}}'
    LocalBlobStore().write_bytes(envelope.output_uri, forged)
    assert runtime.run(json_schema_validate, name="json-schema", version="1.0.0") == 1
    assert LocalBlobStore().read_bytes(envelope.output_uri) == forged
    assert received == []


def test_findings_past_the_stored_cap_are_counted_exactly(harness):
    from shared.contract.envelopes import MAX_STORED_FINDINGS, OutputFinding
    from shared.domain.enums import Severity

    def many(envelope, files):
        severities = [Severity.WARNING] * MAX_STORED_FINDINGS + [Severity.ERROR] * 7
        severities += [Severity.INFO] * 3
        found = [OutputFinding(severity=s, code="c", message="m") for s in severities]
        return runtime.ValidationResult(findings=found)

    assert runtime.run(many, name="json-schema", version="1.0.0") == 0
    output = read_output(harness.envelope)
    assert len(output.findings) == MAX_STORED_FINDINGS
    assert output.unlisted_findings is not None
    assert (output.unlisted_findings.error, output.unlisted_findings.info) == (7, 3)
    assert output.status == "failed_validation"
