"""The json-schema validator: JSON Schema draft 2020-12 and draft 7, formats checked."""

VERSION = "1.0.0"
