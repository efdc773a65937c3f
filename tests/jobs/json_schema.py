"""A stand-in validator job for the reconcile tests, run by the job runner as the
`validator-json-schema` job with module prefix `tests.jobs.`: it misbehaves the way
$FAKE_JOB says, so each lost-message fault can be injected with real processes.

- hang: never finishes (a stuck validator);
- fail: exits 3 without an output (a crash before anything was written);
- silent: validates for real and writes output.json, then exits 0 without calling back
  (a lost callback).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from shared.adapters.storage import signed
from shared.contract.envelopes import (
    InputEnvelope,
    OutputEnvelope,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.platform.clock import utcnow
from validators.json_schema.validator import validate
from validators.runtime import _fetch

behaviour = os.environ.get("FAKE_JOB", "hang")
if behaviour == "hang":
    time.sleep(3600)
if behaviour == "fail":
    sys.exit(3)

# Only through the URLs its launch signed: the job runner shows it no storage folder.
envelope = InputEnvelope.model_validate_json(signed.read_bytes(os.environ["INPUT_URI"]))
result = validate(envelope, _fetch(envelope, Path(tempfile.mkdtemp())))
failed = any(f.severity == "ERROR" for f in result.findings)
now = utcnow()
output = OutputEnvelope(
    run_id=envelope.run_id,
    org_id=envelope.org_id,
    step_order=envelope.step_order,
    attempt=envelope.attempt,
    callback_id=envelope.callback_id,
    status=OutputStatus.FAILED_VALIDATION if failed else OutputStatus.SUCCESS,
    findings=result.findings,
    timing=Timing(started_at=now, ended_at=now, duration_ms=0),
    validator=ValidatorRef(name="json-schema", version="fake"),
)
signed.create(
    envelope.output_url or envelope.output_uri,
    output.model_dump_json().encode(),
    "application/json",
    envelope.retain_until,
)
