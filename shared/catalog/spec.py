"""What the catalog knows of a validator: its name, file types, and how a step's config
is checked when a workflow is saved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.contract.validator_jobs import JOBS


class ConfigError(ValueError):
    """A step's config is not valid for its validator."""


@dataclass(frozen=True)
class ResourceField:
    """A step config key that names a workflow resource."""

    # A key, or a dotted path into the config (`reference.resource`); its value is one
    # resource's name or a list of names.
    field: str
    # The config key that receives the resource's text for check_config at save (None:
    # the validator does not check the content at save). Only for a top-level key
    # naming one resource.
    text_into: str | None = None
    # Names that need no upload: files the validator's image ships. A resource of the
    # same name wins over them.
    builtin: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidatorSpec:
    name: str
    file_types: frozenset[str]
    # Raises ConfigError for a config the validator cannot use; returns warnings about
    # one it can (shown with the workflow version).
    check_config: Callable[[dict[str, Any]], list[str]]
    # The JSON Schema of a step's config: GET /v1/validators shows it, and a config that
    # does not match it is refused before check_config looks deeper.
    config_schema: dict[str, Any]
    resource_fields: tuple[ResourceField, ...] = ()
    # The module whose `validate` the fast path calls inside the api function: set for
    # validators light enough to run there (pure Python, bounded by a small file); None
    # for those that need their own image (an engine).
    inline_module: str | None = None
    # What that module imports on first use, imported once by the fast path's fork server
    # instead of by every check (jsonschema's format checkers take ~2 s to import).
    inline_preload: tuple[str, ...] = ()
    # Which engine checks files for a config, when the validator has more than one.
    engine_for: Callable[[dict[str, Any]], str] | None = None
    # Engines of an inline validator that still run only as a job (Saxon reserves more
    # memory than the fast path gives a check).
    job_engines: frozenset[str] = frozenset()

    @property
    def runs_inline(self) -> bool:
        return self.inline_module is not None

    def inline_for(self, engine: str | None) -> bool:
        """Whether a step on `engine` (as saving chose it) may run inside the api."""
        return self.runs_inline and engine not in self.job_engines

    def check(self, config: dict[str, Any], resolved: dict[str, Any] | None = None) -> list[str]:
        """`config` against config_schema, then the validator's own checks on `resolved`
        (the config with its named resources read in), or on `config`."""
        from shared.contract.lazy_formats import defer_rfc3987

        defer_rfc3987()
        import jsonschema

        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(self.config_schema).iter_errors(config)
        )
        if error is not None:
            where = "".join(f"/{p}" for p in error.absolute_path)
            raise ConfigError(f"config{where}: {error.message[:300]}")
        return self.check_config(resolved if resolved is not None else config)

    @property
    def version(self) -> str:
        return JOBS[self.name].version
