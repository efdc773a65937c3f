"""The parent's side of a Python engine in the sandbox: the request in, data back.

The job's own process (which holds the envelope, its callback id and the job's
identity) never parses a user's file: it hands the file to `sandbox_child` in a
sandbox and takes back named files only, each read with a cap, none followed through a
link. A file it did not ask for, a missing one, or an exit that is not 0 is an error of
the engine (`EngineFailed`), never a result.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validators import sandbox
from validators.payload import Payload
from validators.sandbox import Limits, SandboxViolation
from validators.sandbox_child import ERROR_FILE, REQUEST_FILE

if TYPE_CHECKING:  # the runtime imports this module's users; annotations only here
    from shared.contract.envelopes import InputEnvelope, InputFile
    from validators.runtime import ValidationResult

# `python -I` puts neither PYTHONPATH nor the working folder on sys.path (the engine's
# out folder must never shadow a module), so the product's code root is named: in an
# image /app, which no installed package points at.
_CODE_ROOT = str(Path(sandbox.__file__).resolve().parents[1])
_CHILD = (
    f"import runpy, sys; sys.path.insert(0, {_CODE_ROOT!r}); "
    "runpy.run_module('validators.sandbox_child', run_name='__main__', alter_sys=True)"
)


class EngineFailed(Exception):
    """The engine raised, or exited without the files it owes (its message says why)."""


def _inputs(files: Sequence[Payload], folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Each payload as a file the sandbox can be given: files as they are, bytes
    written once to `folder` (the fast path's content never reaches a disk there: the
    fast path runs its engines in its own sandbox instead)."""
    inputs: dict[str, Path] = {}
    for index, payload in enumerate(files):
        name = f"input-{index}"
        inputs[name] = payload.path if payload.path is not None else payload.place(folder / name)
    return inputs, list(inputs)


def run_python(
    module: str,
    config: Mapping[str, Any],
    files: Sequence[Payload],
    *,
    redact: bool,
    limits: Limits,
    outputs: Mapping[str, int],
    work: Path,
) -> dict[str, bytes]:
    """Runs `module.in_sandbox(config, paths, redact)` in a sandboxed interpreter and
    returns the files it wrote, by name: each of `outputs` (name → byte cap) it wrote.
    Raises SandboxUnavailable, SandboxTimedOut, SandboxViolation or EngineFailed."""
    uid = sandbox.sandbox_uid()
    inputs, names = _inputs(files, work)
    with sandbox.scratch(inputs, uid) as folder:
        request = {"module": module, "config": dict(config), "redact": redact, "files": names}
        (folder / "in" / REQUEST_FILE).write_text(json.dumps(request))
        (folder / "in" / REQUEST_FILE).chmod(0o644)
        argv = [sys.executable, "-I", "-c", _CHILD]
        finished = sandbox.run(argv, folder, limits, uid)
        return _collect(finished, outputs, redact)


def _collect(
    finished: sandbox.Finished, outputs: Mapping[str, int], redact: bool
) -> dict[str, bytes]:
    stray = sandbox.stray(finished.out, [*outputs, ERROR_FILE])
    if stray:
        raise SandboxViolation(f"the engine wrote files it may not: {', '.join(stray[:5])}")
    if finished.exit_code != 0:
        said = sandbox.take(finished.out, ERROR_FILE, 4096)
        reason = said.decode("utf-8", errors="replace") if said else None
        if reason is None and not redact:
            reason = f"exit code {finished.exit_code}"
        raise EngineFailed(reason or f"the engine's process ended with {finished.exit_code}")
    produced = {}
    for name, cap in outputs.items():
        data = sandbox.take(finished.out, name, cap)
        if data is not None:
            produced[name] = data
    return produced


# Findings are what the JSON and XML engines return: a JSON list, read with this cap.
FINDINGS_FILE = "findings.json"
MAX_FINDINGS_BYTES = 64 * 1024 * 1024
MEMORY_BYTES = 1024 * 1024 * 1024


def _findings_adapter() -> Any:
    from pydantic import TypeAdapter

    from shared.contract.envelopes import OutputFinding

    return TypeAdapter(list[OutputFinding])


def findings_file(findings: Sequence[Any]) -> dict[str, bytes]:
    """What an engine's `in_sandbox` returns for a list of findings."""
    return {FINDINGS_FILE: _findings_adapter().dump_json(list(findings))}


def findings_in_sandbox(
    module: str,
    config: Mapping[str, Any],
    files: Sequence[Payload],
    *,
    redact: bool,
    seconds: float,
) -> list[Any]:
    """The findings `module` reports for `files`, checked in a sandbox: a list of
    OutputFinding as the parent reads and validates it."""
    import tempfile

    from pydantic import ValidationError

    limits = Limits(seconds=seconds, memory_bytes=MEMORY_BYTES)
    with tempfile.TemporaryDirectory() as work:
        produced = run_python(
            module,
            config,
            files,
            redact=redact,
            limits=limits,
            outputs={FINDINGS_FILE: MAX_FINDINGS_BYTES},
            work=Path(work),
        )
    data = produced.get(FINDINGS_FILE)
    if data is None:
        raise EngineFailed("the engine returned no findings")
    try:
        found: list[Any] = _findings_adapter().validate_json(data)
    except ValidationError:
        raise SandboxViolation("the engine's findings are malformed") from None
    return found


Findings = Callable[[dict[str, Any], list[Payload], bool], list[Any]]
Resolve = Callable[["InputEnvelope"], dict[str, Any]]


@dataclass(frozen=True)
class FindingsEngine:
    """A validator whose engine reports findings file by file (JSON Schema, XML), in its
    three places: `validate` in the job's parent (the engine in a sandbox), `in_sandbox`
    inside it (sandbox_child), and `inline` in a child of the fast path's sandboxed fork
    server (the engine called directly; the api resolved the config)."""

    module: str
    findings: Findings
    # The config the engine needs, read by a process that can reach storage.
    resolve: Resolve

    def in_sandbox(
        self, config: dict[str, Any], paths: list[Path], redact: bool
    ) -> dict[str, bytes]:
        return findings_file(self.findings(config, [Payload(path=p) for p in paths], redact))

    def inline(
        self, envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]
    ) -> ValidationResult:
        found = self.findings(envelope.config, [p for _, p in files], envelope.redact_values)
        return _result(found, files)

    def validate(
        self, envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]
    ) -> ValidationResult:
        from validators.runtime import own_deadline

        found = findings_in_sandbox(
            self.module,
            self.resolve(envelope),
            [payload for _, payload in files],
            redact=envelope.redact_values,
            seconds=own_deadline(envelope.timeout_seconds),
        )
        return _result(found, files)


def _result(found: list[Any], files: Sequence[object]) -> ValidationResult:
    from validators.runtime import ValidationResult

    return ValidationResult(findings=found, metrics={"files": len(files)})
