import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contract.envelopes import (
    CallbackBody,
    InputEnvelope,
    InputFile,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
    Timing,
    ValidatorRef,
)
from shared.domain.task_bodies import LaunchTask

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def input_envelope() -> InputEnvelope:
    return InputEnvelope(
        run_id="r",
        org_id="o",
        step_order=0,
        step_key="k",
        attempt=1,
        validator=ValidatorRef(name="json-schema", version="1"),
        config={"schema": {}},
        files=[
            InputFile(
                name="a.json",
                uri="file:///x/a.json",
                sha256="0" * 64,
                size_bytes=2,
                content_type="application/json",
            )
        ],
        callback_url="http://cb",
        callback_id="c",
        output_uri="file:///x/output.json",
        timeout_seconds=60,
    )


def test_input_round_trips_with_its_schema_version() -> None:
    envelope = input_envelope()
    data = json.loads(envelope.model_dump_json())
    assert data["schema_version"] == "assay.input/1"
    assert InputEnvelope.model_validate(data) == envelope


def test_an_unknown_schema_version_is_refused() -> None:
    data = json.loads(input_envelope().model_dump_json())
    data["schema_version"] = "assay.input/2"
    with pytest.raises(ValidationError):
        InputEnvelope.model_validate(data)


def test_unknown_fields_are_refused() -> None:
    data = json.loads(input_envelope().model_dump_json())
    data["surprise"] = 1
    with pytest.raises(ValidationError):
        InputEnvelope.model_validate(data)


def test_output_carries_findings_and_status() -> None:
    output = OutputEnvelope(
        run_id="r",
        org_id="o",
        step_order=0,
        attempt=1,
        callback_id="c",
        status=OutputStatus.FAILED_VALIDATION,
        findings=[OutputFinding(severity="ERROR", code="x", message="m", path="/a")],
        timing=Timing(started_at=NOW, ended_at=NOW, duration_ms=0),
        validator=ValidatorRef(name="json-schema", version="1"),
    )
    again = OutputEnvelope.model_validate_json(output.model_dump_json())
    assert again.findings[0].path == "/a"
    assert again.schema_version == "assay.output/1"
    with pytest.raises(ValidationError):
        OutputEnvelope.model_validate({**json.loads(output.model_dump_json()), "status": "maybe"})


def test_callback_body_has_a_schema_version_and_known_statuses() -> None:
    body = CallbackBody(
        run_id="r" * 20, callback_id="c" * 32, status="success", result_uri="file:///o"
    )
    assert json.loads(body.model_dump_json())["schema_version"] == "assay.callback/1"
    with pytest.raises(ValidationError):
        CallbackBody(run_id="r" * 20, callback_id="c" * 32, status="great", result_uri="file:///o")


@pytest.mark.parametrize("bad", ["__x__", ".", "..", "", "a/b", "r" * 21])
def test_ids_in_private_bodies_must_have_an_ids_shape(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        CallbackBody(run_id=bad, callback_id="c" * 32, status="success", result_uri="file:///o")
    with pytest.raises(ValidationError):
        CallbackBody(run_id="r" * 20, callback_id=bad, status="success", result_uri="file:///o")
    with pytest.raises(ValidationError):
        LaunchTask(run_id=bad, step_order=0, attempt=1)


def test_the_contract_checks_a_run_id_as_assay_makes_it() -> None:
    """The contract keeps its own copy of the id's shape (the validator images carry it
    without shared/platform/ids.py); the two must not drift."""
    from shared.contract.envelopes import RUN_ID
    from shared.platform.ids import ID_PATTERN

    assert RUN_ID == ID_PATTERN
