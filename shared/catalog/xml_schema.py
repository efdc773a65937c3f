"""The xml-schema validator's step config (DTD, RELAX NG, Schematron, XSD)."""

from __future__ import annotations

from typing import Any

from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec


def _check_xml_schema(config: dict[str, Any]) -> list[str]:
    from shared.contract.xml_schemas import SCHEMA_TYPES, XmlRefused, compile_schema

    unknown = set(config) - {"schema_type", "schema", "phase"}
    if unknown:
        raise ConfigError(
            f"unknown config keys {sorted(unknown)}; allowed: 'schema_type', 'schema', 'phase'"
        )
    schema_type, schema = config.get("schema_type"), config.get("schema")
    phase = config.get("phase")
    if schema_type not in SCHEMA_TYPES:
        raise ConfigError(
            f"config.schema_type must be one of {list(SCHEMA_TYPES)}, not {schema_type!r}"
        )
    if not isinstance(schema, str):
        raise ConfigError("config.schema is required: the schema's text")
    if phase is not None and (schema_type != "schematron" or not isinstance(phase, str)):
        raise ConfigError("config.phase is a schematron schema's phase: an id, #ALL or #DEFAULT")
    try:
        compile_schema(schema_type, schema, phase)
    except XmlRefused as exc:
        raise ConfigError(f"config.schema: {exc.message}") from None
    return []


SPEC = ValidatorSpec(
    name="xml-schema",
    file_types=frozenset({"xml"}),
    check_config=_check_xml_schema,
    inline_module="validators.xml_schema.validator",
    inline_preload=("lxml.etree", "lxml.isoschematron"),
    resource_fields=(ResourceField("schema_resource", text_into="schema"),),
    config_schema={
        "type": "object",
        "properties": {
            "schema_type": {"enum": ["dtd", "relaxng", "schematron", "xsd"]},
            "schema": {"type": "string", "description": "The schema's text"},
            "schema_resource": {
                "type": "string",
                "description": "The name of a workflow resource holding the schema",
            },
            "phase": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": (
                    "Schematron only: the phase to run (a phase id, #ALL or #DEFAULT; "
                    "default #DEFAULT, the schema's defaultPhase or else every pattern)"
                ),
            },
        },
        "required": ["schema_type"],
        "oneOf": [{"required": ["schema"]}, {"required": ["schema_resource"]}],
        "additionalProperties": False,
    },
)
