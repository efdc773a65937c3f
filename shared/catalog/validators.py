"""The validators Assay knows, one module each beside this one: name, version, job, file
types, and how a step's config is checked when a workflow is saved (so a bad config is
refused up front, not discovered in a job)."""

from __future__ import annotations

from shared.catalog import energyplus, fmu, json_schema, shacl, xml_schema
from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec

__all__ = ["CATALOG", "ConfigError", "ResourceField", "ValidatorSpec", "get_validator"]

CATALOG: dict[str, ValidatorSpec] = {
    module.SPEC.name: module.SPEC for module in (json_schema, energyplus, fmu, xml_schema, shacl)
}


def get_validator(name: str) -> ValidatorSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(f"unknown validator {name!r}; known: {sorted(CATALOG)}") from None
