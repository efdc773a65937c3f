"""The fmu validator: checks an FMU (FMI 2.0 or 3.0) and simulates it with fmpy."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.contract.envelopes import ValidatorRef


VERSION = "1.1.0"


def engine_used(config: dict[str, Any]) -> "ValidatorRef":
    """fmpy simulates every FMU."""
    from importlib.metadata import version

    from shared.contract.envelopes import ValidatorRef

    return ValidatorRef(name="fmpy", version=version("fmpy"))
