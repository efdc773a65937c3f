"""Which jsonschema validator class a json-schema step's config selects. The catalog uses
it when a workflow is saved and the validator uses it in its job, so the two cannot
disagree; it imports nothing else of Assay, so a validator image can carry it alone."""

from __future__ import annotations

from typing import Any


class DraftError(ValueError):
    """The config names a draft that is not supported."""


DRAFTS = {
    "2020-12": "https://json-schema.org/draft/2020-12/schema",
    "7": "http://json-schema.org/draft-07/schema#",
}


def validator_class(config: dict[str, Any]) -> Any:
    from shared.contract.lazy_formats import defer_rfc3987

    defer_rfc3987()
    import jsonschema

    draft = config.get("draft")
    schema = config.get("schema")
    if draft in (None, "2020-12"):
        chosen = jsonschema.Draft202012Validator
    elif draft == "7":
        chosen = jsonschema.Draft7Validator
    else:
        raise DraftError(f"draft must be one of {sorted(DRAFTS)}, not {draft!r}")
    # The schema's own `$schema` wins, then the step's `draft`, then 2020-12.
    if isinstance(schema, dict) and "$schema" in schema:
        return jsonschema.validators.validator_for(schema, default=chosen)
    return chosen


# The base URI of a schema without its own `$id`.
ROOT_URI = "urn:assay:schema"
_NOT_SCHEMAS = frozenset({"enum", "const", "examples", "default"})


def no_retrieval() -> Any:
    """An empty registry: every `$ref` resolves inside the schema or not at all. Left to
    its default, jsonschema fetches a `$ref` to a URL when validating, which would let a
    schema make the validator job request any address it can reach."""
    from referencing import Registry

    return Registry()


def unresolved_refs(schema: Any, dialect: str = "") -> list[tuple[str, str]]:
    """(JSON Pointer, $ref) of every reference that does not resolve within the schema,
    read as the `dialect` (a metaschema URI: the step's draft) unless it names its own
    `$schema` (a draft-7 `items` array is not a 2020-12 schema)."""
    if not isinstance(schema, dict):
        return []
    from urllib.parse import urljoin

    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012, specification_with

    default = specification_with(dialect, default=DRAFT202012) if dialect else DRAFT202012
    spec = specification_with(str(schema.get("$schema", "")), default=default)
    base = urljoin(ROOT_URI, str(schema.get("$id", ""))) if "$id" in schema else ROOT_URI
    registry = no_retrieval().with_resource(base, spec.create_resource(schema)).crawl()
    missing: list[tuple[str, str]] = []

    def walk(node: Any, base_uri: str, pointer: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, base_uri, f"{pointer}/{index}")
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("$id"), str) and pointer:
            base_uri = urljoin(base_uri, node["$id"])
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                registry.resolver(base_uri=base_uri).lookup(ref)
            except Unresolvable:
                missing.append((f"{pointer}/$ref", ref))
        for key, value in node.items():
            if key not in _NOT_SCHEMAS:
                escaped = key.replace("~", "~0").replace("/", "~1")
                walk(value, base_uri, f"{pointer}/{escaped}")

    walk(schema, base, "")
    return missing


# Keywords only one of the two supported drafts knows (as that draft spells them).
_ONLY_DRAFT_7 = ("dependencies", "definitions", "additionalItems")
_ONLY_2020_12 = (
    "$defs",
    "prefixItems",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
    "unevaluatedItems",
)


def _keywords(node: Any, found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _keywords(item, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key == "items" and isinstance(value, list):
                found.add("items[]")  # array-form items: draft 7's tuple validation
            if key not in ("enum", "const", "examples", "default"):
                _keywords(value, found)


def draft_warnings(config: dict[str, Any]) -> list[str]:
    """A schema validated under one draft but written in the other's keywords is almost
    always a mistake that passes silently (the other draft's keywords are ignored)."""
    schema = config.get("schema")
    if not isinstance(schema, dict):
        return []
    dialect = str(schema.get("$schema", ""))
    declared = "7" if "draft-07" in dialect else "2020-12" if "2020-12" in dialect else None
    declared = declared or config.get("draft")
    used: set[str] = set()
    _keywords(schema, used)
    if declared in (None, "2020-12"):
        foreign = sorted(k for k in (*_ONLY_DRAFT_7, "items[]") if k in used)
        if foreign:
            how = "2020-12 (the default)" if declared is None else "2020-12"
            return [
                f"the schema is checked as draft {how} but uses {foreign}, which only draft 7 "
                'reads: set `draft: "7"` or a `$schema`, or rewrite them'
            ]
    if declared == "7":
        foreign = sorted(k for k in _ONLY_2020_12 if k in used)
        if foreign:
            return [
                f"the schema is checked as draft 7 but uses {foreign}, which only draft "
                "2020-12 reads: they are ignored"
            ]
    return []
