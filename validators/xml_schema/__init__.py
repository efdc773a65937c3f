"""The xml-schema validator: XML against XSD 1.0, RelaxNG, a DTD or ISO Schematron."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.contract.envelopes import ValidatorRef


VERSION = "1.1.0"


def engine_used(config: dict[str, Any]) -> "ValidatorRef":
    """Saxon (saxonche) for an XSLT 2/3 Schematron, else lxml (libxml2)."""
    from importlib.metadata import version

    from shared.contract.envelopes import ValidatorRef
    from shared.contract.xml_schemas import needs_saxon

    name = "saxonche" if needs_saxon(config) else "lxml"
    return ValidatorRef(name=name, version=version(name))
