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
