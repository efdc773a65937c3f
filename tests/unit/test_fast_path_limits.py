"""The fast path's child processes, from the real fork server: a check runs in a fresh
child in milliseconds, a check that allocates past the memory limit fails with a
MemoryError instead of taking the api instance down, and one that never returns is
killed at its deadline."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.contract.envelopes import InputEnvelope, InputFile
from shared.services import fast_path
from tests.factories import input_envelope
from validators.payload import Payload
from validators.runtime import CheckFailed, TimedOut, ValidationResult, validate_within

MIB = 1024 * 1024
ITEM = InputFile(name="a", uri="inline:a", sha256="0" * 64, size_bytes=1, content_type="x")
ENVELOPE = input_envelope("t", output_uri="file:///tmp/unused/output.json", timeout_seconds=5)


def small(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    return ValidationResult(metrics={"bytes": files[0][1].size})


def greedy(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    hoard = bytearray(2048 * MIB)
    return ValidationResult(metrics={"bytes": len(hoard)})


def stuck(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    while True:
        time.sleep(1)


def _within(validate: Any, seconds: float = 5.0) -> ValidationResult:
    return validate_within(
        validate,
        ENVELOPE,
        [(ITEM, Payload(data=b"abc"))],
        seconds,
        context=fast_path._context(),
        memory_bytes=768 * MIB,
    )


def test_a_check_runs_in_a_child_of_the_fork_server() -> None:
    from validators.json_schema.validator import inline as validate

    envelope = ENVELOPE.model_copy(update={"config": {"schema": {"type": "object"}}})
    context = fast_path._context()
    validate_within(validate, envelope, [(ITEM, Payload(data=b"{}"))], 30.0, context=context)
    started = time.monotonic()
    for _ in range(5):
        result = validate_within(
            validate, envelope, [(ITEM, Payload(data=b"[]"))], 30.0, context=context
        )
        assert [f.code for f in result.findings] == ["schema.type"]
    # Forked from a server that has the validator and jsonschema imported (~2 s in a
    # fresh interpreter): each check starts at once.
    assert (time.monotonic() - started) / 5 < 0.5


def test_a_check_past_its_memory_limit_is_a_memory_error() -> None:
    with pytest.raises(CheckFailed, match="MemoryError: the check needed more than its 768 MiB"):
        _within(greedy)
    assert _within(small).metrics == {"bytes": 3}  # the next one is unaffected


def test_a_check_that_never_returns_is_killed_at_its_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(TimedOut):
        _within(stuck, seconds=1.0)
    assert time.monotonic() - started < 3


def probe(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    """What a parser exploit would try from the fast path's check: reach a server (the
    metadata server, the local stack), read a file of the api's (another org's data),
    find a credential in its environment."""
    import os
    import socket

    reached = 0
    try:
        socket.create_connection(tuple(envelope.config["host"]), timeout=2).close()
        reached = 1
    except OSError:
        pass
    try:
        stolen = len(open(envelope.config["victim"], "rb").read())  # noqa: SIM115
    except OSError:
        stolen = 0
    names = sorted(os.environ)
    return ValidationResult(metrics={"reached": reached, "stolen": stolen, "env": ",".join(names)})


def test_a_check_reaches_no_server_no_file_and_no_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    import uuid
    from pathlib import Path

    server = socket.create_server(("127.0.0.1", 0))
    # Where the local stack keeps every org's files, beside the code the sandbox shows.
    victim = Path(__file__).resolve().parents[2] / ".local" / f"victim-{uuid.uuid4().hex}.json"
    victim.parent.mkdir(exist_ok=True)
    victim.write_text('{"secret": 1}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(victim))
    config = {"host": ["127.0.0.1", server.getsockname()[1]], "victim": str(victim)}
    envelope = ENVELOPE.model_copy(update={"config": config})
    try:
        result = validate_within(
            probe, envelope, [(ITEM, Payload(data=b"{}"))], 10.0, context=fast_path._context()
        )
    finally:
        server.close()
        victim.unlink()
    assert result.metrics == {"reached": 0, "stolen": 0, "env": "HOME,LANG,PATH,PWD"}
