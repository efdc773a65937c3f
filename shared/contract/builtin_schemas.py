"""The schemas the xml-schema validator ships, by their path below its `builtin/` folder
(validators/xml_schema/builtin/*/PROVENANCE): a step names one in `schema_resource` with
no upload. Names only, so the catalog lists them without loading the Schematron engine
module (shared/contract/xml_schemas.py)."""

from __future__ import annotations

from typing import Final

BUILTIN_SCHEMAS: Final = tuple(
    f"buildingsync/{name}.sch"
    for name in (
        "ASHRAE_211/L000_Audit-1.0.0",
        "ASHRAE_211/L100_Audit-1.0.0",
        "ASHRAE_211/L200_Audit-1.0.0",
        "BETTER/BETTER-1.0.0",
        "BSyncr/BSyncr_Input-1.0.0",
        "BuildingEQ/BuildingEQ-1.0.0",
        "BuildingSync-Gem/L000_Pre-Simulation-1.0.0",
        "BuildingSync-Gem/L100_Pre-Simulation-1.0.0",
        "Emission/Emission-1.0.0",
        "SEED/BRICR_SEED-1.0.0",
        "SEED/SEED-1.0.0",
    )
)
