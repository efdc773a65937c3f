"""The json-schema validator's step config."""

from __future__ import annotations

from typing import Any

from shared.catalog.spec import ConfigError, ValidatorSpec
from shared.contract.json_schema_drafts import (
    DraftError,
    draft_warnings,
    unresolved_refs,
    validator_class,
)

# json-schema's options: `schema` (required), `draft` ("2020-12" or "7"; else the
# schema's `$schema`, else 2020-12) and `format_assertion` (default true: `format` is
# checked, e.g. an invalid "email" is an ERROR; false: formats are annotations only).
JSON_SCHEMA_OPTIONS = ("schema", "draft", "format_assertion")


def _check_json_schema(config: dict[str, Any]) -> list[str]:
    from shared.contract.lazy_formats import defer_rfc3987

    defer_rfc3987()
    import jsonschema

    unknown = set(config) - set(JSON_SCHEMA_OPTIONS)
    if unknown:
        raise ConfigError(
            f"unknown config keys {sorted(unknown)}; allowed: {list(JSON_SCHEMA_OPTIONS)}"
        )
    if not isinstance(config.get("format_assertion", True), bool):
        raise ConfigError("config.format_assertion must be true or false")
    schema = config.get("schema")
    if not isinstance(schema, (dict, bool)):
        raise ConfigError("config.schema is required and must be a JSON Schema object")
    try:
        cls = validator_class(config)
    except DraftError as exc:
        raise ConfigError(str(exc)) from None
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise ConfigError(
            f"config.schema is not a valid JSON Schema at {where}: {exc.message}"
        ) from None
    unresolved = unresolved_refs(schema, str(cls.META_SCHEMA.get("$schema", "")))
    if unresolved:
        pointer, ref = unresolved[0]
        raise ConfigError(
            f"config.schema{pointer} = {ref[:200]!r} does not resolve within the schema "
            "(references to other documents are not fetched)"
        )
    return draft_warnings(config)


def _json_schema_engine(config: dict[str, Any]) -> str:
    from shared.contract.json_schema_engine import engine_for

    return engine_for(config)


SPEC = ValidatorSpec(
    name="json-schema",
    file_types=frozenset({"json"}),
    check_config=_check_json_schema,
    inline_module="validators.json_schema.validator",
    inline_preload=("jsonschema", "referencing.jsonschema", "jsonschema_rs", "orjson"),
    engine_for=_json_schema_engine,
    config_schema={
        "type": "object",
        "properties": {
            "schema": {"type": ["object", "boolean"], "description": "The JSON Schema"},
            "draft": {"enum": ["2020-12", "7"]},
            "format_assertion": {
                "type": "boolean",
                "description": "Check `format` (default true); false: formats only annotate",
            },
        },
        "required": ["schema"],
        "additionalProperties": False,
    },
)
