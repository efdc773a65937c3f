"""The BuildingSync use-case Schematrons built into the xml-schema validator: named in
`schema_resource` with no upload, checked at save from the validator's own copy, read by
the engine (inline and in the job's sandbox); the ASHRAE 211 level 1 audit on a real
BuildingSync sample (passing) and on the same sample missing three elements (the
findings each phase should give, with rule ids)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from shared.catalog.validators import ConfigError, get_validator
from shared.contract.builtin_schemas import BUILTIN_SCHEMAS
from shared.contract.envelopes import InputFile
from shared.contract.xml_schemas import BUILTIN_FOLDER, builtin_schema
from tests.factories import input_envelope
from validators.payload import Payload
from validators.sandbox import available
from validators.xml_schema.validator import check, resolved_config, validate

ROOT = Path(__file__).resolve().parents[2]
L100 = "buildingsync/ASHRAE_211/L100_Audit-1.0.0.sch"
SAMPLE = (ROOT / "examples" / "buildingsync-l100-audit.xml").read_bytes()
INCOMPLETE = (ROOT / "examples" / "buildingsync-l100-audit-incomplete.xml").read_bytes()
FACILITY = {
    ("ERROR", "schematron.assert", "misc_building_info", "auc:YearOfConstruction", 13),
    ("WARNING", "schematron.assert", "misc_building_info", "auc:YearOfLastMajorRemodel", 13),
}
ENERGY_USE = {
    (
        "ERROR",
        "schematron.assert",
        "monthly_utility_data",
        "Resource use must include ResourceUseNotes for documenting irregularities in "
        "monthy energy use patterns",
        222,
    )
}


def _seen(data: bytes, **config: str) -> set[tuple[object, ...]]:
    found = check({"schema_type": "schematron", "schema_resource": L100, **config}, data)
    return {(f.severity, f.code, f.rule, f.message, f.line) for f in found}


def test_every_built_in_is_shipped_with_its_licence_and_compiles_at_save() -> None:
    spec = get_validator("xml-schema")
    shipped = {str(p.relative_to(BUILTIN_FOLDER)) for p in BUILTIN_FOLDER.rglob("*.sch")}
    assert shipped == set(BUILTIN_SCHEMAS)
    for extra in ("LICENSE.md", "LICENSE-SOURCE.txt", "PROVENANCE"):
        assert (BUILTIN_FOLDER / "buildingsync" / extra).is_file()
    assert (
        "88d1e5e4ce741fef4d81d93a411e67a70d96aa25"
        in (BUILTIN_FOLDER / "buildingsync" / "PROVENANCE").read_text()
    )
    for name in BUILTIN_SCHEMAS:
        # No upload and no text in the config: the save reads the validator's copy.
        assert spec.check({"schema_type": "schematron", "schema_resource": name}) == [], name
    assert spec.resource_fields[0].builtin == BUILTIN_SCHEMAS


def test_a_name_that_is_no_built_in_is_refused() -> None:
    spec = get_validator("xml-schema")
    for name in ("buildingsync/../../../../etc/passwd", "L100_Audit-1.0.0.sch"):
        assert builtin_schema(name) is None
        with pytest.raises(ConfigError, match=r"config\.schema is required"):
            spec.check_config({"schema_type": "schematron", "schema_resource": name})
        (finding,) = check({"schema_type": "schematron", "schema_resource": name}, SAMPLE)
        assert (finding.code, finding.message) == (
            "xml.refused",
            f"no schema: {name!r} is not a built-in schema",
        )
    with pytest.raises(ConfigError, match="'costs' is not a phase"):
        spec.check_config({"schema_type": "schematron", "schema_resource": L100, "phase": "costs"})


def test_the_ashrae_211_level_1_audit_on_a_real_sample_and_an_incomplete_one() -> None:
    assert _seen(SAMPLE) == _seen(SAMPLE, phase="facility_description") == set()
    assert _seen(INCOMPLETE, phase="facility_description") == FACILITY
    assert _seen(INCOMPLETE, phase="historical_energy_use") == ENERGY_USE
    assert _seen(INCOMPLETE, phase="benchmarking") == set()
    assert _seen(INCOMPLETE) == _seen(INCOMPLETE, phase="#ALL") == FACILITY | ENERGY_USE


def test_the_example_workflow_checks_at_save_with_no_resource() -> None:
    from shared.services.workflows import WorkflowSpec, _steps

    body = json.loads((ROOT / "examples" / "buildingsync.workflow.json").read_text())
    spec = WorkflowSpec.model_validate({k: v for k, v in body.items() if k != "slug"})
    steps, allowed, warnings = _steps(spec)
    assert [s.resources for s in steps] == [{}, {}]
    assert "xml" in allowed and warnings == []
    phases = [step["config"]["phase"] for step in body["steps"]]
    assert phases == ["facility_description", "historical_energy_use"]


def _item() -> InputFile:
    return InputFile(
        name="audit.xml",
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=len(INCOMPLETE),
        content_type="application/xml",
    )


@pytest.mark.skipif(not available(), reason="bubblewrap cannot run here")
def test_the_job_reads_the_built_in_in_its_sandbox() -> None:
    envelope = input_envelope(
        "xml-schema",
        config={"schema_type": "schematron", "schema_resource": L100, "phase": "#ALL"},
    )
    assert resolved_config(envelope) == envelope.config  # the engine reads it itself
    found = validate(envelope, [(_item(), Payload(data=INCOMPLETE))]).findings
    assert {(f.severity, f.code, f.rule, f.message, f.line) for f in found} == (
        FACILITY | ENERGY_USE
    )


def test_a_workflow_resource_of_the_same_name_wins(tmp_path: Path) -> None:
    own = b'<schema xmlns="http://purl.oclc.org/dsdl/schematron"><pattern id="mine">'
    own += b'<rule context="/"><report test="true()">own rules</report></rule></pattern></schema>'
    copy = tmp_path / "rules.sch"
    copy.write_bytes(own)
    resource = InputFile(
        name=L100,
        uri=copy.as_uri(),
        sha256=hashlib.sha256(own).hexdigest(),
        size_bytes=len(own),
        content_type="application/xml",
    )
    envelope = input_envelope(
        "xml-schema",
        config={"schema_type": "schematron", "schema_resource": L100},
        resources=[resource],
    )
    config = resolved_config(envelope)
    assert config["schema"] == own.decode()
    (finding,) = check(config, INCOMPLETE)
    assert (finding.rule, finding.message) == ("mine", "own rules")
