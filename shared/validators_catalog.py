"""The validators Assay knows: name, version, job, file types, and how a step's
config is checked when a workflow is saved (so a bad config is refused up front,
not discovered in a job)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A step's config is not valid for its validator."""


@dataclass(frozen=True)
class ValidatorSpec:
    name: str
    version: str
    file_types: frozenset[str]
    check_config: Callable[[dict[str, Any]], None]

    def job_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"


JSON_SCHEMA_DRAFTS = {
    "2020-12": "https://json-schema.org/draft/2020-12/schema",
    "7": "http://json-schema.org/draft-07/schema#",
}


def json_schema_validator_class(config: dict[str, Any]) -> Any:
    """The jsonschema validator class for a step config; shared with the validator."""
    import jsonschema

    draft = config.get("draft")
    schema = config.get("schema")
    if draft is None and isinstance(schema, dict) and "$schema" in schema:
        return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    if draft in (None, "2020-12"):
        return jsonschema.Draft202012Validator
    if draft == "7":
        return jsonschema.Draft7Validator
    raise ConfigError(f"draft must be one of {sorted(JSON_SCHEMA_DRAFTS)}, not {draft!r}")


def _check_json_schema(config: dict[str, Any]) -> None:
    import jsonschema

    unknown = set(config) - {"schema", "draft"}
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; allowed: 'schema', 'draft'")
    schema = config.get("schema")
    if not isinstance(schema, (dict, bool)):
        raise ConfigError("config.schema is required and must be a JSON Schema object")
    cls = json_schema_validator_class(config)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise ConfigError(
            f"config.schema is not a valid JSON Schema at {where}: {exc.message}"
        ) from None


CATALOG: dict[str, ValidatorSpec] = {
    "json-schema": ValidatorSpec(
        name="json-schema",
        version="1.0.0",
        file_types=frozenset({"json"}),
        check_config=_check_json_schema,
    ),
}


def get_validator(name: str) -> ValidatorSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(f"unknown validator {name!r}; known: {sorted(CATALOG)}") from None
