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
    import jsonschema

    draft = config.get("draft")
    schema = config.get("schema")
    if draft is None and isinstance(schema, dict) and "$schema" in schema:
        return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    if draft in (None, "2020-12"):
        return jsonschema.Draft202012Validator
    if draft == "7":
        return jsonschema.Draft7Validator
    raise DraftError(f"draft must be one of {sorted(DRAFTS)}, not {draft!r}")


# The base URI of a schema without its own `$id`.
ROOT_URI = "urn:assay:schema"
_NOT_SCHEMAS = frozenset({"enum", "const", "examples", "default"})


def no_retrieval() -> Any:
    """An empty registry: every `$ref` resolves inside the schema or not at all. Left to
    its default, jsonschema fetches a `$ref` to a URL when validating, which would let a
    schema make the validator job request any address it can reach."""
    from referencing import Registry

    return Registry()


def unresolved_refs(schema: Any) -> list[tuple[str, str]]:
    """(JSON Pointer, $ref) of every reference that does not resolve within the schema."""
    if not isinstance(schema, dict):
        return []
    from urllib.parse import urljoin

    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012, specification_with

    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
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
