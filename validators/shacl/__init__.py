"""The shacl validator: RDF data (Turtle, JSON-LD, N-Triples, RDF/XML) against SHACL
shapes, with pySHACL."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.contract.envelopes import ValidatorRef


VERSION = "1.0.0"


def engine_used(config: dict[str, Any]) -> "ValidatorRef":
    """pySHACL, whatever the shapes."""
    from importlib.metadata import version

    from shared.contract.envelopes import ValidatorRef

    return ValidatorRef(name="pyshacl", version=version("pyshacl"))
