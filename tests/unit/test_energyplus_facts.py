"""An EnergyPlus model's facts, read before any simulation from the model as epJSON (the
engine's own conversion of an IDF, an epJSON as it is), with the real engine: the
example models' zones, surfaces, windows, HVAC, timesteps and run periods, and their
objects by type; the same facts from an IDF and from its epJSON; the engine's defaults
where the model says nothing; and `preflight_only`, which stops after the facts in
seconds, with no simulation and none of its files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from shared.catalog.energyplus import SPEC
from tests.unit.test_energyplus_validator import CHICAGO, _run
from validators.energyplus.engine import engine
from validators.energyplus.facts import model_facts
from validators.energyplus.model_check import inspect_model
from validators.payload import Payload

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BOX = (EXAMPLES / "box.idf").read_bytes()


def _facts(data: bytes, kind: str = "idf") -> dict[str, Any]:
    findings, model = inspect_model(Payload(data=data), kind)
    assert findings == [] and model is not None
    return model_facts(model, engine()[1])


def test_the_facts_of_the_example_box() -> None:
    facts = _facts(BOX)
    counts = facts.pop("object_counts")
    assert facts == {
        "version": "25.2",
        "energyplus_version": engine()[1],
        "zone_count": 1,
        "surface_count": 6,
        "fenestration_count": 0,
        "shading_surface_count": 0,
        "has_hvac": True,
        "conditioned_zone_count": 1,
        "timesteps_per_hour": 4,
        "run_period_count": 1,
        "run_period_days": 14,
        "sizing_period_count": 1,
    }
    assert counts["BuildingSurface:Detailed"] == 6 and counts["Zone"] == 1
    assert counts["Schedule:Constant"] == 5 and counts["ZoneHVAC:IdealLoadsAirSystem"] == 1
    # One entry per object type the model has, each counting its objects.
    assert sum(counts.values()) == sum(
        1 for line in BOX.decode().splitlines() if line and not line.startswith("!")
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("box-gas.idf", {"zone_count": 1, "fenestration_count": 1, "run_period_days": 3}),
        ("box-unmet.idf", {"zone_count": 2, "surface_count": 12, "conditioned_zone_count": 2}),
        ("box-broken.idf", None),
    ],
)
def test_the_facts_of_the_other_examples(name: str, expected: dict[str, Any] | None) -> None:
    findings, model = inspect_model(Payload(data=(EXAMPLES / name).read_bytes()), "idf")
    if expected is None:  # the broken box converts (its errors are the simulation's)
        assert model is not None and findings == []
        return
    assert model is not None
    facts = model_facts(model, engine()[1])
    assert {key: facts[key] for key in expected} == expected
    assert facts["has_hvac"] is True


def test_an_idf_and_its_epjson_have_the_same_facts() -> None:
    _, model = inspect_model(Payload(data=(EXAMPLES / "box-gas.idf").read_bytes()), "idf")
    assert model is not None
    epjson = json.dumps(model).encode()
    assert _facts(epjson, "epjson") == _facts((EXAMPLES / "box-gas.idf").read_bytes())
    # A key that is no object type (the schema lets it by) is not counted.
    extra = json.dumps({**model, "Tenant: Acme": {"x": {}}}).encode()
    assert "Tenant: Acme" not in _facts(extra, "epjson")["object_counts"]


def test_what_the_model_does_not_say_is_the_engines_default() -> None:
    bare = b"\n".join(
        line
        for line in BOX.splitlines()
        if not line.startswith((b"Timestep", b"ZoneHVAC", b"RunPeriod"))
    )
    facts = _facts(bare)
    assert facts["timesteps_per_hour"] == 6
    assert (facts["has_hvac"], facts["conditioned_zone_count"]) == (False, 0)
    assert (facts["run_period_count"], facts["run_period_days"]) == (0, 0)


def test_an_hvac_template_counts_as_hvac_and_run_periods_count_their_days() -> None:
    model = {
        "Version": {"Version 1": {"version_identifier": "25.2"}},
        "HVACTemplate:Zone:PTAC": {"PTAC 1": {"zone_name": "Office"}},
        "RunPeriod": {
            "Winter": {
                "begin_month": 12,
                "begin_day_of_month": 1,
                "end_month": 1,
                "end_day_of_month": 31,
            },
            "Leap February": {
                "begin_month": 2,
                "begin_day_of_month": 1,
                "begin_year": 2024,
                "end_month": 2,
                "end_day_of_month": 29,
                "end_year": 2024,
            },
            "Year": {
                "begin_month": 1,
                "begin_day_of_month": 1,
                "end_month": 12,
                "end_day_of_month": 31,
            },
        },
    }
    facts = model_facts(model, "25.2.0")
    assert (facts["has_hvac"], facts["conditioned_zone_count"]) == (True, 1)
    assert facts["run_period_days"] == 62 + 29 + 365
    assert facts["object_counts"] == {"HVACTemplate:Zone:PTAC": 1, "RunPeriod": 3, "Version": 1}
    assert facts["version"] == "25.2"
    # A version that is not a number is no fact: the text would quote the file.
    model["Version"] = {"Version 1": {"version_identifier": "25.2 (Acme tower, tenant B)"}}
    assert model_facts(model, "25.2.0")["version"] is None


def test_preflight_only_gives_the_facts_in_seconds_without_simulating(tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run(tmp_path, BOX, {"weather": CHICAGO, "preflight_only": True})
    assert time.monotonic() - started < 5
    assert result.findings == []
    assert result.facts["zone_count"] == 1 and result.facts["run_period_days"] == 14
    assert result.metrics == {} and result.artifacts == []
    bundle = tmp_path / "bundle"
    assert not bundle.exists() or not any(bundle.iterdir())


def test_a_model_that_does_not_parse_has_no_facts(tmp_path: Path) -> None:
    bad = BOX.replace(b"Timestep,4;", b"Timestep,many;")
    result = _run(tmp_path, bad, {"preflight_only": True})
    assert any(f.severity == "ERROR" for f in result.findings)
    assert result.facts == {} and result.metrics == {}


def test_the_config_takes_preflight_only() -> None:
    assert SPEC.check({"preflight_only": True}) == []
    with pytest.raises(ValueError, match="preflight_only"):
        SPEC.check({"preflight_only": "yes"})
