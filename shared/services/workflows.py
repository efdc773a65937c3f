"""Workflows and their immutable versions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from shared.catalog.validators import (
    CATALOG,
    ConfigError,
    ResourceField,
    ValidatorSpec,
    get_validator,
)
from shared.domain.assertions import (
    MAX_ASSERTIONS,
    Assertion,
    InvalidAssertion,
    compile_expr,
    named_steps,
    step_aliases,
)
from shared.domain.enums import Execution, RetentionPolicy, Role
from shared.domain.models import (
    ResourcePin,
    Retention,
    Workflow,
    WorkflowStep,
    WorkflowVersion,
)
from shared.domain.roles import LENGTHENS_RETENTION, require
from shared.persistence.ports import Repositories, UnitOfWork
from shared.platform.clock import Clock, utcnow
from shared.platform.errors import AlreadyExists, Conflict, NotFound, Unprocessable
from shared.services import audit
from shared.services.resources import ResourceBook

# A step's job gets this long (Cloud Run's task timeout, and the validator's own deadline).
DEFAULT_STEP_TIMEOUT, MAX_STEP_TIMEOUT = 600, 3600
# A step's config as JSON (the workflow version, every run's copy, and the input
# envelope carry it; Firestore documents hold at most 1 MiB).
MAX_STEP_CONFIG_BYTES = 128 * 1024
# The contract's description of a step's config: one schema per validator, from the
# catalog (which also refuses a config that does not match it).
CONFIG_SCHEMA: dict[str, JsonValue] = {
    "anyOf": [{"title": name, **spec.config_schema} for name, spec in sorted(CATALOG.items())]
}
SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_KEY_CHARS = re.compile(r"[^a-z0-9]+")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    key: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str = Field(min_length=1, max_length=200)
    validator: str = Field(json_schema_extra={"enum": list[JsonValue](sorted(CATALOG))})
    config: dict[str, Any] = Field(default_factory=dict, json_schema_extra=CONFIG_SCHEMA)
    timeout_seconds: int = Field(
        default=DEFAULT_STEP_TIMEOUT,
        json_schema_extra={"minimum": 1, "maximum": MAX_STEP_TIMEOUT},
    )
    assertions: list[Assertion] = Field(default_factory=list, max_length=MAX_ASSERTIONS)


class WorkflowSpec(BaseModel):
    """The body of PUT: everything a version holds."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    name: str = Field(min_length=1, max_length=200)
    steps: list[StepIn] = Field(min_length=1, max_length=20)
    retention: Retention = Field(default_factory=Retention)
    allowed_file_types: list[str] | None = None
    # auto: inside the api function when every step's validator is light and the file
    # small (README "The fast path"), else a job; job or inline: always that.
    execution: Execution = Execution.AUTO


class WorkflowCreate(WorkflowSpec):
    slug: str = Field(pattern=SLUG)


def _pin_resources(
    step: StepIn, spec: ValidatorSpec, label: str, book: ResourceBook | None
) -> tuple[dict[str, ResourcePin], dict[str, Any] | None]:
    """The resources the step's config names, pinned, and the config with their text in
    place of the names where the validator checks it at save; (empty, None) when it names
    none. A name the validator's image ships (a bundled weather file) needs no upload."""
    pins: dict[str, ResourcePin] = {}
    resolved: dict[str, Any] | None = None
    for ref, name in _named_resources(step.config, spec.resource_fields):
        pin = _find_pin(book, name, ref, label)
        if pin is None:
            continue
        pins[name] = pin
        if ref.text_into is not None and book is not None:
            try:
                text = book.read(pin).decode("utf-8")
            except UnicodeDecodeError:
                raise Unprocessable(
                    f"{label}: config.{ref.field}: {name!r} is not UTF-8 text"
                ) from None
            resolved = {k: v for k, v in (resolved or step.config).items() if k != ref.field}
            resolved[ref.text_into] = text
    return pins, resolved


def _named_resources(
    config: dict[str, Any], fields: tuple[ResourceField, ...]
) -> list[tuple[ResourceField, str]]:
    """Each resource name the config gives, with its field: a field is a key or a dotted
    path into the config (`reference.resource`), its value one name or a list of them."""
    named: list[tuple[ResourceField, str]] = []
    for ref in fields:
        value: Any = config
        for part in ref.field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values = value if isinstance(value, list) else [value]
        named += [(ref, name) for name in values if isinstance(name, str)]
    return named


def _find_pin(
    book: ResourceBook | None, name: str, ref: ResourceField, label: str
) -> ResourcePin | None:
    """The pin of the resource `name`; None for a builtin name with no resource."""
    if book is None:
        if name in ref.builtin:
            return None
        raise Unprocessable(f"{label}: config.{ref.field}: resources cannot be used here")
    try:
        return book.pin(name)
    except NotFound as exc:
        if name in ref.builtin:
            return None
        detail = (
            f"{name!r} is neither a resource of workflow {book.slug!r} nor one of the "
            f"bundled files {list(ref.builtin)}"
            if ref.builtin
            else exc.detail
        )
        raise Unprocessable(f"{label}: config.{ref.field}: {detail}") from None


def _steps(
    spec: WorkflowSpec, book: ResourceBook | None = None
) -> tuple[list[WorkflowStep], list[str], list[str]]:
    """The spec's steps checked and made, the file types every step reads, and the
    validators' warnings; the first thing wrong raises Unprocessable."""
    steps: list[WorkflowStep] = []
    warnings: list[str] = []
    accepted: set[str] | None = None
    for index, step in enumerate(spec.steps):
        label = f"steps[{index}] ({step.name!r})"
        validator = _validator_of(step, label)
        pins, resolved = _pin_resources(step, validator, label, book)
        warnings += _checked_config(step, validator, resolved, label)
        step = step.model_copy(update={"config": _pinned(step, book, label)})
        _check_limits(step, label)
        key = _unique_key(step, index, steps, label)
        _check_assertions(step, label, [s.key for s in steps])
        steps.append(_workflow_step(step, key, validator, pins, resolved))
        types = set(validator.file_types)
        accepted = types if accepted is None else accepted & types
    allowed = _allowed_file_types(spec, accepted)
    _check_execution(spec, steps)
    return steps, allowed, warnings


def _pinned(step: StepIn, book: ResourceBook | None, label: str) -> dict[str, Any]:
    """The step's config with its reference run pinned (shared/services/references.py,
    loaded on use: most workflows name none)."""
    from shared.services.references import pin_reference_run

    return pin_reference_run(step.config, step.validator, book, label)


def _validator_of(step: StepIn, label: str) -> ValidatorSpec:
    try:
        return get_validator(step.validator)
    except ConfigError as exc:
        raise Unprocessable(f"{label}: {exc}") from None


def _checked_config(
    step: StepIn, validator: ValidatorSpec, resolved: dict[str, Any] | None, label: str
) -> list[str]:
    """The validator's warnings on the step's config (checked with the pinned resources'
    text in place of their names, when it needs it)."""
    try:
        return [f"{label}: {w}" for w in validator.check(step.config, resolved)]
    except ConfigError as exc:
        raise Unprocessable(f"{label}: {exc}") from None


def _check_limits(step: StepIn, label: str) -> None:
    size = len(json.dumps(step.config, ensure_ascii=False).encode())
    if size > MAX_STEP_CONFIG_BYTES:
        raise Unprocessable(
            f"{label}: config is {size} bytes of JSON; at most {MAX_STEP_CONFIG_BYTES}"
        )
    if not 1 <= step.timeout_seconds <= MAX_STEP_TIMEOUT:
        raise Unprocessable(
            f"{label}: timeout_seconds must be between 1 and {MAX_STEP_TIMEOUT}, "
            f"not {step.timeout_seconds}"
        )


def _check_assertions(step: StepIn, label: str, earlier: list[str]) -> None:
    """Each assertion compiles and reads only steps before this one."""
    names = step_aliases(earlier)
    for number, assertion in enumerate(step.assertions):
        try:
            compile_expr(assertion.expr)
        except InvalidAssertion as exc:
            raise Unprocessable(f"{label}.assertions[{number}]: {exc}") from None
        unknown = next((n for n in named_steps(assertion.expr) if n not in names), None)
        if unknown is not None:
            known = f"the earlier steps are {sorted(names)}" if names else "it is the first step"
            raise Unprocessable(
                f"{label}.assertions[{number}]: steps.{unknown} is not an earlier step of "
                f"this workflow ({known}); an assertion reads only steps that ran before it"
            )


def _unique_key(step: StepIn, index: int, earlier: list[WorkflowStep], label: str) -> str:
    """The step's key, or one made from its name when it has none."""
    key = step.key or _KEY_CHARS.sub("-", step.name.lower()).strip("-")[:63] or f"step-{index}"
    if any(s.key == key for s in earlier):
        raise Unprocessable(f"{label}: key {key!r} is used by an earlier step; keys must differ")
    return key


def _workflow_step(
    step: StepIn,
    key: str,
    validator: ValidatorSpec,
    pins: dict[str, ResourcePin],
    resolved: dict[str, Any] | None,
) -> WorkflowStep:
    return WorkflowStep(
        key=key,
        name=step.name,
        validator=step.validator,
        config=step.config,
        timeout_seconds=step.timeout_seconds,
        assertions=step.assertions,
        resources=pins,
        engine=validator.engine_for(resolved or step.config) if validator.engine_for else None,
    )


def _allowed_file_types(spec: WorkflowSpec, accepted: set[str] | None) -> list[str]:
    """The types the spec allows, each of which every step must read; by default, all
    that every step reads."""
    allowed = sorted(accepted or set())
    if spec.allowed_file_types is not None:
        unreadable = sorted(set(spec.allowed_file_types) - set(allowed))
        if unreadable:
            raise Unprocessable(
                f"allowed_file_types {unreadable} cannot be read by every step; "
                f"these steps accept {allowed}"
            )
        allowed = sorted(set(spec.allowed_file_types))
    if not allowed:
        raise Unprocessable("no file type is accepted by every step of this workflow")
    return allowed


def _check_execution(spec: WorkflowSpec, steps: list[WorkflowStep]) -> None:
    heavy = [s for s in steps if not get_validator(s.validator).inline_for(s.engine)]
    if spec.execution is Execution.INLINE and heavy:
        named = sorted({f"{s.validator} ({s.engine})" if s.engine else s.validator for s in heavy})
        raise Unprocessable(
            f"execution 'inline': {named} run only as jobs; "
            f"inline validators are {sorted(n for n, v in CATALOG.items() if v.runs_inline)}"
        )


def _version(
    workflow: Workflow,
    number: int,
    spec: WorkflowSpec,
    now: Clock,
    book: ResourceBook | None = None,
) -> WorkflowVersion:
    steps, allowed, warnings = _steps(spec, book)
    return WorkflowVersion(
        workflow_id=workflow.id,
        org_id=workflow.org_id,
        slug=workflow.slug,
        version=number,
        name=spec.name,
        steps=steps,
        retention=spec.retention,
        allowed_file_types=allowed,
        execution=spec.execution,
        warnings=warnings,
        created_at=now(),
    )


# Each policy keeps content longer than the one before it.
KEEPING = (
    RetentionPolicy.DO_NOT_STORE,
    RetentionPolicy.STORE_1_DAY,
    RetentionPolicy.STORE_7_DAYS,
    RetentionPolicy.STORE_30_DAYS,
    RetentionPolicy.STORE_90_DAYS,
    RetentionPolicy.STORE_1_YEAR,
    RetentionPolicy.STORE_PERMANENTLY,
)


def check_retention(new: Retention, old: Retention, role: Role) -> None:
    """The one rule on who sets retention: keeping anything longer than `old` needs
    LENGTHENS_RETENTION; keeping it as long or shorter is any author's change."""
    longer = [
        f"retention.{part} {getattr(old, part).value} -> {getattr(new, part).value}"
        for part in Retention.model_fields
        if KEEPING.index(getattr(new, part)) > KEEPING.index(getattr(old, part))
    ]
    if longer:
        require(role, LENGTHENS_RETENTION, f"keeping data longer ({'; '.join(longer)})")


def create_workflow(
    repos: Repositories,
    org_id: str,
    body: WorkflowCreate,
    now: Clock = utcnow,
    book: ResourceBook | None = None,
    *,
    as_role: Role = Role.ADMIN,
    by: audit.By | None = None,
) -> tuple[Workflow, WorkflowVersion]:
    """`as_role`: the caller's; Assay's own callers (the CLI, tests) act as admins. A new
    workflow's retention counts as longer against the default (Retention()). `by`: whom
    the audit log names (None: nothing is recorded)."""
    check_retention(body.retention, Retention(), as_role)
    created = now()
    workflow = Workflow(
        id=repos.workflows.id_for(org_id, body.slug),
        org_id=org_id,
        slug=body.slug,
        name=body.name,
        latest_version=1,
        created_at=created,
        updated_at=created,
    )
    version = _version(workflow, 1, body, now, book)

    exists = Conflict(f"workflow {body.slug!r} already exists; PUT it to add a version")
    batch = repos.batch()
    batch.create(workflow)
    batch.create(version)
    try:
        batch.commit()
    except AlreadyExists:
        raise exists from None
    if by is not None:
        audit.workflow_saved(repos, by.actor, by.route, workflow, version)
    return workflow, version


# Makes the next version from the workflow, its latest version and the next number; None
# when there is nothing to save.
NextVersion = Callable[[Workflow, WorkflowVersion, int], WorkflowVersion | None]


def _save_next(
    repos: Repositories, org_id: str, slug: str, make: NextVersion
) -> tuple[Workflow, WorkflowVersion] | None:
    """The next version, made from the latest one as the same transaction reads it: two
    saves at once cannot both build on the same version (one retries on the other's)."""

    def write(transaction: UnitOfWork) -> tuple[Workflow, WorkflowVersion] | None:
        workflow = transaction.workflow(org_id, slug)
        if workflow is None:
            raise NotFound(f"workflow {slug!r} does not exist in organization {org_id!r}")
        number = workflow.latest_version + 1
        version = make(workflow, transaction.version(workflow), number)
        if version is None:
            return None
        workflow = workflow.model_copy(
            update={
                "latest_version": number,
                "name": version.name,
                "updated_at": version.created_at,
            }
        )
        # create() fails if the version exists: versions are immutable.
        transaction.create(version)
        transaction.save(workflow)
        return workflow, version

    saved: tuple[Workflow, WorkflowVersion] | None = repos.transact(write)
    return saved


def update_workflow(
    repos: Repositories,
    org_id: str,
    slug: str,
    body: WorkflowSpec,
    now: Clock = utcnow,
    book: ResourceBook | None = None,
    *,
    as_role: Role = Role.ADMIN,
    by: audit.By | None = None,
) -> tuple[Workflow, WorkflowVersion]:
    """A new version from `body`. `as_role`: the caller's (see create_workflow); its
    retention is compared with the latest version's."""

    def make(workflow: Workflow, latest: WorkflowVersion, number: int) -> WorkflowVersion:
        check_retention(body.retention, latest.retention, as_role)
        return _version(workflow, number, body, now, book)

    saved = _save_next(repos, org_id, slug, make)
    assert saved is not None  # make() always makes one
    if by is not None:
        audit.workflow_saved(repos, by.actor, by.route, *saved)
    return saved


def _spec_of(version: WorkflowVersion) -> WorkflowSpec:
    """What `version` was saved from, to check it again."""
    return WorkflowSpec(
        name=version.name,
        steps=[
            StepIn(
                key=s.key,
                name=s.name,
                validator=s.validator,
                config=s.config,
                timeout_seconds=s.timeout_seconds,
                assertions=s.assertions,
            )
            for s in version.steps
        ],
        retention=version.retention,
        allowed_file_types=version.allowed_file_types,
        execution=version.execution,
    )


def repin(
    repos: Repositories,
    org_id: str,
    slug: str,
    name: str,
    book: ResourceBook,
    now: Clock = utcnow,
) -> WorkflowVersion | None:
    """After resource `name` changed: a new version of the workflow pinned to its new
    content, if the latest version uses it (else None). The new version is the latest one
    copied, every setting kept (a field added to the model later is kept too); only its
    number, its time, its steps' pins and what the validators derive from a pinned file
    (a step's engine, the warnings) are new, after the steps are checked again with it."""

    def make(workflow: Workflow, latest: WorkflowVersion, number: int) -> WorkflowVersion | None:
        current = book.pin(name)
        if not any(s.resources.get(name, current) != current for s in latest.steps):
            return None
        checked, _, warnings = _steps(_spec_of(latest), book)
        steps = [
            old.model_copy(update={"resources": new.resources, "engine": new.engine})
            for old, new in zip(latest.steps, checked, strict=True)
        ]
        update = {"version": number, "steps": steps, "warnings": warnings, "created_at": now()}
        return latest.model_copy(update=update)

    saved = _save_next(repos, org_id, slug, make)
    return saved[1] if saved else None
