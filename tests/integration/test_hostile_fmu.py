"""A hostile FMU (tests/fmus/hostile.py, built by pythonfmu) attacks the validator that
runs it, with the real fmpy in the real sandbox. Its true output is y = 3; a verdict that
asks for y_final > 100 must still fail whatever its code does, and each attack must get
nowhere: no socket opens, another run's file stays unread, the environment holds nothing
of the job's, no file it writes is kept or believed, its output is capped, its forks are
limited, its sleep ends at the deadline, and a pickle it leaves is never loaded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.contract.envelopes import InputFile, OutputEnvelope, OutputStatus, ValidatorRef
from shared.domain.enums import Severity
from tests.factories import input_envelope
from validators.fmu.validator import validate
from validators.payload import Payload
from validators.runtime import produce_output

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ["y", "reached_network", "read_victim", "saw_secrets", "wrote", "forked"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pythonfmu"),
            "build",
            "-f",
            str(ROOT / "tests/fmus/hostile.py"),
            "-d",
            str(folder),
        ],
        check=True,
        capture_output=True,
    )
    return folder / "Hostile.fmu"


@pytest.fixture(scope="module")
def hostile_c(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fmus/hostile_c: the same probes in native code, compiled here against the
    FMI headers fmpy ships, zipped with its modelDescription.xml."""
    import fmpy

    source = ROOT / "tests/fmus/hostile_c"
    folder = tmp_path_factory.mktemp("hostile_c")
    binary = folder / "binaries" / "linux64" / "hostile_c.so"
    binary.parent.mkdir(parents=True)
    headers = Path(fmpy.__file__).parent / "c-code"
    compiler = ["cc", "-shared", "-fPIC", "-O1", f"-I{headers}", "-o", str(binary)]
    subprocess.run([*compiler, str(source / "hostile.c")], check=True, capture_output=True)
    fmu = folder / "HostileC.fmu"
    with zipfile.ZipFile(fmu, "w") as archive:
        archive.write(source / "modelDescription.xml", "modelDescription.xml")
        archive.write(binary, "binaries/linux64/hostile_c.so")
    return fmu


@pytest.fixture
def listener() -> Iterator[str]:
    """A server on loopback that counts the connections it accepts: what the metadata
    server or the local API would be to the FMU."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()
    assert accepted == []


def _run(
    fmu: Path, tmp_path: Path, mode: int, seconds: float = 60.0, **parameters: Any
) -> OutputEnvelope:
    marker = parameters.pop("marker", f"hostile-{uuid.uuid4().hex}")
    parameters = {"mode": mode, "marker": marker, **parameters}
    return _simulate(fmu, tmp_path, OUTPUTS, parameters, seconds)


def _simulate(
    fmu: Path, tmp_path: Path, outputs: list[str], parameters: dict[str, Any], seconds: float
) -> OutputEnvelope:
    config = {"stop_time": 1.0, "step_size": 0.5, "outputs": outputs, "parameters": parameters}
    envelope = input_envelope(
        "fmu",
        config=config,
        output_uri=(tmp_path / "bundle" / "output.json").as_uri(),
        timeout_seconds=int(seconds),
    )
    item = InputFile(
        name=fmu.name,
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=fmu.stat().st_size,
        content_type="application/octet-stream",
    )
    return produce_output(
        validate,
        envelope,
        lambda: [(item, Payload(path=fmu))],
        ValidatorRef(name="fmu", version="1"),
        seconds,
    )


def _errors(output: OutputEnvelope) -> set[str]:
    return {f.code for f in output.findings if f.severity is Severity.ERROR}


@pytest.fixture
def victim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Another run's stored file, and what a job's process holds in its environment:
    the sandbox must hand none of it on."""
    stolen = tmp_path / "runs" / "other-org" / "other-run" / "model.json"
    stolen.parent.mkdir(parents=True)
    stolen.write_text('{"secret": "of another org"}')
    monkeypatch.setenv("INPUT_URI", "file:///runs/o/r/steps/0/1/input.json")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:9023")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/key.json")
    return stolen


def _got_nothing(output: OutputEnvelope) -> None:
    assert output.status is OutputStatus.SUCCESS, output.error
    assert output.metrics["y_final"] == 3.0
    assert output.metrics["reached_network_max"] == 0.0
    assert output.metrics["read_victim_max"] == 0.0
    assert output.metrics["saw_secrets_max"] == 0.0


def test_it_reaches_no_server_no_other_run_and_no_secret(
    hostile: Path, tmp_path: Path, listener: str, victim: Path
) -> None:
    _got_nothing(_run(hostile, tmp_path, 0, hosts=f"{listener},{listener}", victim=str(victim)))


def test_native_code_reaches_no_server_no_other_run_and_no_secret(
    hostile_c: Path, tmp_path: Path, listener: str, victim: Path
) -> None:
    port = int(listener.rsplit(":", 1)[1])
    outputs = ["y", "reached_network", "read_victim", "saw_secrets"]
    parameters = {"port": port, "victim": str(victim)}
    _got_nothing(_simulate(hostile_c, tmp_path, outputs, parameters, 60.0))


def test_what_it_writes_is_neither_kept_nor_believed(hostile: Path, tmp_path: Path) -> None:
    marker = f"hostile-{uuid.uuid4().hex}"
    output = _run(hostile, tmp_path, 1, marker=marker)
    # It could write in its own out folder: that is a violation, reported as an ERROR.
    assert output.status is OutputStatus.FAILED_RUNTIME
    assert _errors(output) == {"sandbox.violation"}
    assert "output.json" in output.error
    assert "y_final" not in output.metrics
    assert not (tmp_path / "bundle").exists()
    for top in (tmp_path, Path("/tmp"), ROOT):
        assert not _named(top, marker), top


def test_it_prints_100_mb_and_the_job_keeps_a_capped_log(hostile: Path, tmp_path: Path) -> None:
    output = _run(hostile, tmp_path, 2)
    assert output.status is OutputStatus.SUCCESS, output.error
    assert output.metrics["y_final"] == 3.0


def test_its_fork_bomb_is_limited(hostile: Path, tmp_path: Path) -> None:
    output = _run(hostile, tmp_path, 3)
    assert output.status is OutputStatus.SUCCESS, output.error
    assert 0 < output.metrics["forked_max"] < 100  # type: ignore[operator]


def test_its_sleep_ends_at_the_deadline(hostile: Path, tmp_path: Path) -> None:
    output = _run(hostile, tmp_path, 4, seconds=4.0)
    assert output.status is OutputStatus.TIMED_OUT
    assert "y_final" not in output.metrics


def test_a_pickle_it_leaves_is_never_loaded(hostile: Path, tmp_path: Path) -> None:
    marker = f"hostile-{uuid.uuid4().hex}"
    output = _run(hostile, tmp_path, 5, marker=marker)
    assert output.status is OutputStatus.FAILED_RUNTIME
    assert _errors(output) == {"sandbox.violation"}
    assert not Path(f"/tmp/{marker}-unpickled").exists()
    assert "y_final" not in output.metrics


def test_without_bubblewrap_the_engine_does_not_run(
    hostile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("validators.sandbox.BWRAP", "bwrap-that-is-not-installed")
    output = _run(hostile, tmp_path, 0)
    assert output.status is OutputStatus.FAILED_RUNTIME
    assert _errors(output) == {"sandbox.unavailable"}
    assert "y_final" not in output.metrics


def _named(top: Path, prefix: str) -> list[str]:
    """Paths under `top` whose name starts with `prefix`. os.walk, not rglob: other
    tests' temporary folders come and go under /tmp while it looks."""
    return [
        os.path.join(folder, name)
        for folder, folders, files in os.walk(top)
        for name in folders + files
        if name.startswith(prefix)
    ]
