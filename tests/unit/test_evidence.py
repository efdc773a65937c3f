"""The evidence's parts that need no store: which engine a validator names and what
DO_NOT_STORE keeps of it, the findings' canonical digest, and a config any JSON makes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
import rfc8785

from shared.contract.envelopes import ValidatorRef
from shared.domain.enums import RunStatus
from shared.domain.evidence import findings_sha256
from shared.domain.models import StepRun, ValidationRun, WorkflowStep
from shared.services import evidence
from validators import redaction
from validators.runtime import engine_of

NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("validator", "config", "names"),
    [
        ("json-schema", {"schema": {"type": "object"}}, {"jsonschema-rs", "jsonschema"}),
        ("xml-schema", {"schema_type": "xsd", "schema": "<x/>"}, {"lxml"}),
        ("shacl", {}, {"pyshacl"}),
        ("fmu", {}, {"fmpy"}),
        ("energyplus", {}, {"energyplus"}),
    ],
)
def test_each_validator_names_its_engine(validator: str, config: dict, names: set) -> None:
    found = engine_of(validator, config)
    assert found is not None and found.name in names
    assert redaction.engine(found) == found  # a release's version: kept under DO_NOT_STORE


def test_an_unknown_validator_names_none() -> None:
    assert engine_of("no-such-validator", {}) is None


@pytest.mark.parametrize(
    "said",
    [
        ValidatorRef(name="lxml", version="6.1.3 <name>Ada</name>"),
        ValidatorRef(name="Ada Lovelace", version="1.0.0"),
        None,
    ],
)
def test_do_not_store_drops_an_engine_that_could_quote(said: ValidatorRef | None) -> None:
    assert redaction.engine(said) is None


def test_the_findings_digest_is_rfc_8785_of_seven_fields_in_order() -> None:
    stored = [
        {"severity": "ERROR", "code": "c", "message": "m", "path": "/a", "index": 0, "id": "x"},
        {"severity": "INFO", "code": "d", "message": "é", "line": 3, "column": 1, "rule": "r"},
    ]
    fields = ("severity", "code", "message", "path", "line", "column", "rule")
    expected = [{k: f.get(k) for k in fields} for f in stored]
    assert findings_sha256(stored) == hashlib.sha256(rfc8785.dumps(expected)).hexdigest()
    assert findings_sha256(stored[::-1]) != findings_sha256(stored)
    assert findings_sha256([]) == hashlib.sha256(b"[]").hexdigest()


def _run(config: dict) -> ValidationRun:
    step = WorkflowStep(key="s", name="S", validator="json-schema", config=config)
    run = ValidationRun(
        id="R" * 20,
        org_id="o",
        workflow_id="w",
        workflow_slug="people",
        workflow_version=1,
        created_at=NOW,
        config=[step],
        steps=[StepRun(order=0, key="s", name="S", validator="json-schema")],
    )
    run.finish(RunStatus.CANCELED, NOW)
    return run


def test_a_config_with_an_integer_beyond_2_53_still_has_a_digest() -> None:
    huge = _run({"schema": {"maximum": 2**64}})
    assert len(evidence.config_sha256(huge)) == 64
    manifest = evidence.build(huge)
    assert manifest.input is None  # a run from before evidence: no input facts
    assert [s.status for s in manifest.steps] == ["SKIPPED"]
