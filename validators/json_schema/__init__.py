"""The json-schema validator: JSON Schema draft 2020-12 and draft 7, formats checked."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.contract.envelopes import ValidatorRef


VERSION = "1.0.0"


def engine_used(config: dict[str, Any]) -> "ValidatorRef":
    """The engine a step's config gets (shared/contract/json_schema_engine.py): jsonschema-rs
    where it gives jsonschema's answers, else jsonschema. The evidence names it."""
    from importlib.metadata import version

    from shared.contract.envelopes import ValidatorRef
    from shared.contract.json_schema_engine import FAST, engine_for

    name = "jsonschema-rs" if engine_for(config) == FAST else "jsonschema"
    return ValidatorRef(name=name, version=version(name))
