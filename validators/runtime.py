"""The validator runtime: what every validator job does around its own check.

Read `input.json` from INPUT_URI, fetch the input files (each through the signed URL its
launch made: the job holds no storage role, decision record 0024), run the validator, write
`output.json`, mint an ID token for the callback URL from the metadata server, and POST
the callback (retrying). A validator that crashes still produces a `failed_runtime`
output and calls back, so a run never waits on a job that died quietly.

The check itself runs in a child process with the step's deadline: a validator stuck in
C code (a catastrophic regex holds the GIL and ignores signals) is killed there, and the
job still writes a `timed_out` output and calls back before Cloud Run's task timeout
(the backstop) would stop the whole container without a word.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from pydantic import TypeAdapter, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.adapters.storage import BlobExists, signed
from shared.contract.envelopes import (
    MAX_STORED_FINDINGS,
    CallbackBody,
    FactValue,
    FindingCounts,
    InputEnvelope,
    InputFile,
    OutputArtifact,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.contract.severity import Severity
from shared.platform import logs
from shared.platform.clock import utcnow
from validators import redaction
from validators.payload import Payload, stream_to

log = logging.getLogger("validator")


@dataclass
class ValidationResult:
    findings: list[OutputFinding] = field(default_factory=list)
    metrics: dict[str, int | float | str | None] = field(default_factory=dict)
    artifacts: list[OutputArtifact] = field(default_factory=list)
    # What the validator read of the input before checking it (output.json's `facts`).
    facts: dict[str, FactValue] = field(default_factory=dict)
    # The engine the check ran on, where only the check knows it (else `engine_of`).
    engine: ValidatorRef | None = None


Validate = Callable[[InputEnvelope, list[tuple[InputFile, Payload]]], ValidationResult]


def _session() -> requests.Session:
    retry = Retry(
        total=8,
        connect=8,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def post_callback(envelope: InputEnvelope, status: OutputStatus) -> requests.Response:
    import google.auth.transport.requests
    from google.oauth2 import id_token

    token = id_token.fetch_id_token(google.auth.transport.requests.Request(), envelope.callback_url)
    body = CallbackBody(
        run_id=envelope.run_id,
        callback_id=envelope.callback_id,
        status=status,
        result_uri=envelope.output_uri,
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    parent = logs.traceparent()
    if parent:
        headers["traceparent"] = parent
    return _session().post(
        envelope.callback_url, data=body.model_dump_json(), headers=headers, timeout=60
    )


def _checked(item: InputFile) -> bytes:
    data = signed.read_bytes(item.url or item.uri)
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise ValueError(f"{item.name}: checksum does not match the envelope")
    return data


def _fetch(envelope: InputEnvelope, folder: Path) -> list[tuple[InputFile, Payload]]:
    """Each input streamed to the job's working folder, which goes with the check."""
    return [(item, stream_to(item, folder)) for item in envelope.files]


def store_artifact(
    envelope: InputEnvelope, name: str, data: bytes, content_type: str = ""
) -> OutputArtifact:
    """Stores the artifact `name` beside output.json, through the create-only URL its
    launch signed for that name (shared/contract/validator_jobs.py declares each validator's)."""
    uri = envelope.output_uri.rsplit("/", 1)[0] + f"/{name}"
    location = envelope.artifact_urls.get(name) or uri
    signed.create(location, data, content_type or "application/octet-stream", envelope.retain_until)
    return OutputArtifact(
        name=name, uri=uri, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)
    )


def read_resource(envelope: InputEnvelope, name: str) -> bytes | None:
    """The workflow resource `name` from the run's bundle, checked against the checksum
    the workflow version pinned; None when the step's input names no such resource."""
    resource = next((r for r in envelope.resources if r.name == name), None)
    return None if resource is None else _checked(resource)


class TimedOut(Exception):
    """The check did not finish within the step's timeout."""


class CheckFailed(Exception):
    """The check raised (its message is the child's `Type: message`); `code` names the
    kind of failure for the finding that reports it."""

    def __init__(self, message: str, code: str = "runtime.error") -> None:
        super().__init__(message)
        self.code = code


def _age() -> float:
    """Seconds since this process started, by the kernel's clock, so the interpreter's
    start and the imports count as they do against Cloud Run's task timeout."""
    try:
        stat = Path("/proc/self/stat").read_text()
    except OSError:
        return 0.0
    # Field 22 (starttime), counted after the command's closing parenthesis since a
    # command may itself hold spaces or parentheses.
    started = int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)


# Cloud Run counts a task's timeout from the container's start, so the job's own
# deadline does too: under load the interpreter's start alone can take a second.
_PROCESS_STARTED = time.monotonic() - _age()


def own_deadline(timeout_seconds: int) -> float:
    """Seconds the check may take: the step's timeout, less the time to write the output
    and call back before Cloud Run stops the task at the full timeout (a tenth of it,
    between 1.5 and 30 seconds)."""
    return max(1.0, timeout_seconds - min(30.0, max(1.5, timeout_seconds * 0.1)))


def _left(timeout_seconds: int) -> float:
    """own_deadline, less what the process has spent since it started."""
    return max(0.5, own_deadline(timeout_seconds) - (time.monotonic() - _PROCESS_STARTED))


# The child's answer travels as JSON, read by the parent with a cap: never pickle, so
# bytes that reach the channel can at worst be refused, never run.
_RESULT = TypeAdapter(ValidationResult)
MAX_RESULT_BYTES = 256 * 1024 * 1024


def _failure(exc: BaseException, memory_bytes: int | None) -> tuple[str, str, str]:
    from validators.sandbox import SandboxTimedOut, SandboxUnavailable, SandboxViolation

    if isinstance(exc, (TimedOut, SandboxTimedOut)):
        return "timeout", "runtime.timed_out", str(exc)
    if isinstance(exc, MemoryError):
        limit = (memory_bytes or 0) // (1024 * 1024)
        return "error", "runtime.memory", f"MemoryError: the check needed more than its {limit} MiB"
    if isinstance(exc, SandboxUnavailable):
        return "error", "sandbox.unavailable", f"the engine was not run: {exc}"
    if isinstance(exc, SandboxViolation):
        return "error", "sandbox.violation", str(exc)
    return "error", "runtime.error", f"{type(exc).__name__}: {exc}"


def _log_crash(envelope: InputEnvelope, exc: BaseException) -> None:
    """A crash, logged with its traceback; under DO_NOT_STORE by its type alone (an
    exception's text may quote the file)."""
    if envelope.redact_values:
        log.error("validator crashed: %s", type(exc).__name__, extra={"run_id": envelope.run_id})
    else:
        log.exception("validator crashed", extra={"run_id": envelope.run_id})


def _limit_inline(memory_bytes: int) -> None:
    """A check run with a memory bound is the fast path's, a child of its sandboxed fork
    server: besides its address space, the processes of the sandbox's user and the size
    of any file it writes are bounded too (it has no business forking or writing)."""
    import resource

    for kind, value in (
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_NPROC, 64),
        (resource.RLIMIT_FSIZE, 16 * 1024 * 1024),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))


def _child(
    validate: Validate,
    envelope: InputEnvelope,
    files: list[tuple[InputFile, Payload]],
    conn: Any,
    memory_bytes: int | None = None,
) -> None:
    if memory_bytes is not None:
        _limit_inline(memory_bytes)
    try:
        conn.send_bytes(b"ok\n" + _RESULT.dump_json(validate(envelope, files)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, logged by _log_crash
        kind, code, message = _failure(exc, memory_bytes)
        if code == "runtime.error":
            _log_crash(envelope, exc)
        conn.send_bytes(json.dumps({"kind": kind, "code": code, "message": message}).encode())
    finally:
        conn.close()


def _answer(data: bytes) -> ValidationResult:
    """The child's answer: a result, or the failure it reports (raised)."""
    if data.startswith(b"ok\n"):
        try:
            return _RESULT.validate_json(data[3:])
        except ValidationError:
            raise CheckFailed("the check's answer is malformed", "runtime.malformed") from None
    try:
        said = json.loads(data)
        kind, code, message = str(said["kind"]), str(said["code"]), str(said["message"])
    except (ValueError, KeyError, TypeError):
        raise CheckFailed("the check's answer is malformed", "runtime.malformed") from None
    if kind == "timeout":
        raise TimedOut(message)
    raise CheckFailed(message, code)


def validate_within(
    validate: Validate,
    envelope: InputEnvelope,
    files: list[tuple[InputFile, Payload]],
    seconds: float,
    *,
    context: Any = None,
    memory_bytes: int | None = None,
) -> ValidationResult:
    """Runs `validate` in a child process (forked, unless `context` says otherwise);
    kills it at `seconds`. Raises TimedOut, or CheckFailed carrying the child's
    exception (a MemoryError past `memory_bytes` of address space among them)."""
    context = context or multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(validate, envelope, files, send, memory_bytes), daemon=True
    )
    child.start()
    send.close()
    try:
        if not receive.poll(seconds):
            raise TimedOut(f"the check did not finish within {seconds:.0f}s")
        data = receive.recv_bytes(MAX_RESULT_BYTES)
    except EOFError:
        raise CheckFailed(f"the check's process died (exit code {child.exitcode})") from None
    except OSError:  # longer than MAX_RESULT_BYTES
        raise CheckFailed("the check's answer is too large", "runtime.malformed") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    return _answer(data)


def produce_output(
    validate: Validate,
    envelope: InputEnvelope,
    fetch: Callable[[], list[tuple[InputFile, Payload]]],
    validator: ValidatorRef,
    seconds: float,
    *,
    context: Any = None,
    memory_bytes: int | None = None,
) -> OutputEnvelope:
    """The step's output.json: the check's findings, metrics and artifacts with its
    status, or why it has none (timed out, crashed). Never raises for the check's sake:
    the job path writes and calls back with it, the fast path records it."""
    started, clock = utcnow(), time.monotonic()
    error: str | None = None
    files: list[tuple[InputFile, Payload]] | None = None
    try:
        files = fetch()
        result = validate_within(
            validate, envelope, files, seconds, context=context, memory_bytes=memory_bytes
        )
        failed = any(f.severity is Severity.ERROR for f in result.findings)
        status = OutputStatus.FAILED_VALIDATION if failed else OutputStatus.SUCCESS
    except TimedOut as exc:
        log.error("validator timed out", extra={"run_id": envelope.run_id})
        result, status, error = ValidationResult(), OutputStatus.TIMED_OUT, str(exc)
    except CheckFailed as exc:  # a crash is reported, not lost (the child logged it)
        finding = OutputFinding(severity=Severity.ERROR, code=exc.code, message=str(exc)[:500])
        result, status, error = ValidationResult([finding]), OutputStatus.FAILED_RUNTIME, str(exc)
    except Exception as exc:  # noqa: BLE001 - so is a failure around the check (fetching)
        _log_crash(envelope, exc)
        result, status = ValidationResult(), OutputStatus.FAILED_RUNTIME
        error = f"{type(exc).__name__}: {exc}"
    timing = Timing(
        started_at=started, ended_at=utcnow(), duration_ms=int((time.monotonic() - clock) * 1000)
    )
    return _output(envelope, validator, result, status, error, timing, files)


def failed_output(
    envelope: InputEnvelope, validator: ValidatorRef, code: str, message: str
) -> OutputEnvelope:
    """The output of a step whose check could not be run at all (no sandbox): an ERROR
    finding that says why, never a PASS."""
    now = utcnow()
    finding = OutputFinding(severity=Severity.ERROR, code=code, message=message[:500])
    result = ValidationResult(findings=[finding])
    timing = Timing(started_at=now, ended_at=now, duration_ms=0)
    return _output(envelope, validator, result, OutputStatus.FAILED_RUNTIME, message, timing)


def _listed(findings: list[OutputFinding]) -> tuple[list[OutputFinding], FindingCounts | None]:
    """The findings output.json lists, at most what the callback stores, and the exact
    counts by severity of the rest: an engine's 200,000 findings keep the output within
    its byte cap and the verdict exact."""
    if len(findings) <= MAX_STORED_FINDINGS:
        return findings, None
    rest = Counter(f.severity for f in findings[MAX_STORED_FINDINGS:])
    counts = FindingCounts(
        error=rest[Severity.ERROR], warning=rest[Severity.WARNING], info=rest[Severity.INFO]
    )
    return findings[:MAX_STORED_FINDINGS], counts


def _line_lengths(files: list[tuple[InputFile, Payload]]) -> list[int]:
    """The inputs' line lengths, the longest of each line number among them: what bounds
    a finding's line and column (a finding does not say which file it is in)."""
    longest: list[int] = []
    for _, payload in files:
        with payload.open() as handle:
            lengths = redaction.line_lengths(iter(lambda: handle.read(1024 * 1024), b""))
        longest = [max(a, b) for a, b in zip(longest, lengths, strict=False)] + (
            longest[len(lengths) :] or lengths[len(longest) :]
        )
    return longest


def _redacted(
    envelope: InputEnvelope, output: OutputEnvelope, files: list[tuple[InputFile, Payload]] | None
) -> OutputEnvelope:
    """DO_NOT_STORE: what the engine said, rebuilt here from parts that cannot quote
    the file (validators/redaction.py), its positions within the file itself. The engine
    is not asked; it is not trusted."""
    placed = any(f.line is not None or f.column is not None for f in output.findings)
    scope = redaction.Scope(
        validator=output.validator.name,
        config=envelope.config,
        folder=envelope.output_uri.rsplit("/", 1)[0],
        lines=_line_lengths(files) if files and placed else None,
    )
    return redaction.output(output, scope)


def engine_of(validator: str, config: dict[str, Any]) -> ValidatorRef | None:
    """The engine (name and version) a validator's package says a step with `config`
    runs on (its `engine_used(config)`); None when it names none. Never fails the step: the
    engine is evidence, not the check."""
    try:
        package = importlib.import_module("validators." + validator.replace("-", "_"))
        describe = getattr(package, "engine_used", None)
        found = describe(config) if describe is not None else None
    except Exception:  # logged: the output goes without an engine
        log.warning("could not tell the engine of %s", validator, exc_info=True)
        return None
    return found if isinstance(found, ValidatorRef) else None


def _output(
    envelope: InputEnvelope,
    validator: ValidatorRef,
    result: ValidationResult,
    status: OutputStatus,
    error: str | None,
    timing: Timing,
    files: list[tuple[InputFile, Payload]] | None = None,
) -> OutputEnvelope:
    listed, unlisted = _listed(result.findings)
    output = OutputEnvelope(
        run_id=envelope.run_id,
        org_id=envelope.org_id,
        step_order=envelope.step_order,
        attempt=envelope.attempt,
        callback_id=envelope.callback_id,
        status=status,
        findings=listed,
        unlisted_findings=unlisted,
        metrics=result.metrics,
        facts=result.facts,
        artifacts=result.artifacts,
        timing=timing,
        validator=validator,
        error=error,
        engine=result.engine or engine_of(validator.name, envelope.config),
    )
    return _redacted(envelope, output, files) if envelope.redact_values else output


def _produce_in_scratch(
    validate: Validate, envelope: InputEnvelope, name: str, version: str
) -> OutputEnvelope:
    # The inputs' local copies go when the check does: none outlives the run. An engine's
    # scratch folders are made inside it too, so even a check killed at its deadline
    # leaves no copy (or hard link) of the content behind.
    with tempfile.TemporaryDirectory(prefix="assay-input-") as folder:
        tempfile.tempdir = folder
        try:
            return produce_output(
                validate,
                envelope,
                lambda: _fetch(envelope, Path(folder)),
                ValidatorRef(name=name, version=os.environ.get("VALIDATOR_VERSION", version)),
                _left(envelope.timeout_seconds),
            )
        finally:
            tempfile.tempdir = None


def _write_output(envelope: InputEnvelope, output: OutputEnvelope) -> bool:
    """Writes output.json once; False when one was already there."""
    try:
        signed.create(
            envelope.output_url or envelope.output_uri,
            output.model_dump_json(indent=2).encode(),
            "application/json",
            envelope.retain_until,
        )
    except BlobExists:
        # Only this attempt's own execution may write here, and it writes once: an
        # output.json that is already there is not this parent's, so it is not vouched
        # for with a callback. The reconcile pass finds the execution and decides.
        log.error(
            "output.json already exists; refusing to call back with an output this job "
            "did not write",
            extra={"run_id": envelope.run_id},
        )
        return False
    return True


def _deliver(envelope: InputEnvelope, status: OutputStatus) -> int:
    """Calls back; the exit code: 0 only when the callback took a result that is not a
    failure of the check itself."""
    try:
        response = post_callback(envelope, status)
    except Exception:
        log.exception("callback could not be delivered", extra={"run_id": envelope.run_id})
        return 1
    log.info(
        "callback answered %s",
        response.status_code,
        extra={"run_id": envelope.run_id, "status": status},
    )
    if response.status_code >= 300:
        return 1
    return 1 if status in (OutputStatus.FAILED_RUNTIME, OutputStatus.TIMED_OUT) else 0


def run(validate: Validate, *, name: str, version: str) -> int:
    """Runs one job task; the exit code is 0 only when the result was delivered."""
    logs.configure()
    logs.begin({"traceparent": os.environ.get("TRACEPARENT", "")})
    input_uri = os.environ.get("INPUT_URI", "")
    if not input_uri:
        # The launch sets it on every execution; a job started any other way is refused.
        log.error("INPUT_URI is not set: this job runs only when Assay launches it")
        return 2
    envelope = InputEnvelope.model_validate_json(signed.read_bytes(input_uri))
    logs.bind(run_id=envelope.run_id, org_id=envelope.org_id)
    output = _produce_in_scratch(validate, envelope, name, version)
    if not _write_output(envelope, output):
        return 1
    return _deliver(envelope, output.status)
