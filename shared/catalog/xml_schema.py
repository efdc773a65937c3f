"""The xml-schema validator's step config (DTD, RELAX NG, Schematron, XSD)."""

from __future__ import annotations

from typing import Any

from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec
from shared.contract.builtin_schemas import BUILTIN_SCHEMAS

SAXON, LXML = "saxon", "lxml"


def _xml_engine(config: dict[str, Any]) -> str:
    """Saxon for an xslt2/xslt3 Schematron (a job only: the fast path sends such a step
    to its job), lxml for everything else."""
    from shared.contract.xml_schemas import needs_saxon

    return SAXON if needs_saxon(config) else LXML


def _schema_of(config: dict[str, Any]) -> tuple[str, int | None]:
    """The schema's text and its size limit (None: the default). A `schema_resource`
    still in the config at save names a built-in schema: a workflow resource's text is
    already in `schema`."""
    from shared.contract.xml_schemas import MAX_BUILTIN_BYTES, builtin_schema

    schema, name = config.get("schema"), config.get("schema_resource")
    if isinstance(schema, str):
        return schema, None
    text = builtin_schema(name) if isinstance(name, str) else None
    if text is None:
        raise ConfigError("config.schema is required: the schema's text")
    return text, MAX_BUILTIN_BYTES


def _check_xml_schema(config: dict[str, Any]) -> list[str]:
    from shared.contract.xml_schemas import (
        SCHEMA_TYPES,
        XmlRefused,
        compile_schema,
    )

    unknown = set(config) - {"schema_type", "schema", "schema_resource", "phase"}
    if unknown:
        raise ConfigError(
            f"unknown config keys {sorted(unknown)}; allowed: 'schema_type', 'schema', "
            "'schema_resource', 'phase'"
        )
    schema_type, phase = config.get("schema_type"), config.get("phase")
    if schema_type not in SCHEMA_TYPES:
        raise ConfigError(
            f"config.schema_type must be one of {list(SCHEMA_TYPES)}, not {schema_type!r}"
        )
    schema, limit = _schema_of(config)
    if phase is not None and (schema_type != "schematron" or not isinstance(phase, str)):
        raise ConfigError("config.phase is a schematron schema's phase: an id, #ALL or #DEFAULT")
    try:
        if limit is None:
            compile_schema(schema_type, schema, phase)
        else:
            compile_schema(schema_type, schema, phase, limit)
    except XmlRefused as exc:
        raise ConfigError(f"config.schema: {exc.message}") from None
    return []


SPEC = ValidatorSpec(
    name="xml-schema",
    file_types=frozenset({"xml"}),
    check_config=_check_xml_schema,
    inline_module="validators.xml_schema.validator",
    inline_preload=("lxml.etree", "lxml.isoschematron"),
    engine_for=_xml_engine,
    job_engines=frozenset({SAXON}),
    resource_fields=(
        ResourceField("schema_resource", text_into="schema", builtin=BUILTIN_SCHEMAS),
    ),
    config_schema={
        "type": "object",
        "properties": {
            "schema_type": {"enum": ["dtd", "relaxng", "schematron", "xsd"]},
            "schema": {"type": "string", "description": "The schema's text"},
            "schema_resource": {
                "type": "string",
                "description": (
                    "The name of a workflow resource holding the schema, or of a "
                    "built-in one (the BuildingSync use cases, "
                    "'buildingsync/<use case>/<name>.sch': "
                    f"{', '.join(BUILTIN_SCHEMAS)})"
                ),
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
