"""The xml-schema validator: XML against XSD 1.0, RelaxNG, a DTD or ISO Schematron."""

VERSION = "1.1.0"
