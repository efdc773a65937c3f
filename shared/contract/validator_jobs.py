"""Each validator's job side: its version and the Cloud Run job that runs it. This is
what the launch and reconcile need of a validator; the config schemas and checks a
workflow is saved against live in the catalog (shared/catalog/validators.py), which
only the api imports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValidatorJob:
    name: str
    version: str
    # The files the validator may store beside its output.json: the launch signs a
    # create-only URL for each, and the job can write no other (decision record 0024).
    artifacts: tuple[str, ...] = ()

    def job_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"


JOBS: dict[str, ValidatorJob] = {
    job.name: job
    for job in (
        ValidatorJob("json-schema", "1.0.0"),
        ValidatorJob(
            "energyplus",
            # 1.1: heating and cooling over every fuel, model facts, references.
            "1.1.0",
            (
                "eplusout.err",
                "eplusout.sql",
                "eplustbl.htm",
                "eplusout.csv",
                "reference_comparison.csv",
            ),
        ),
        # 1.1: references with tolerances.
        ValidatorJob("fmu", "1.1.0", ("result.csv", "reference_comparison.csv")),
        # 1.1: Schematron severities, phases and rule ids; xslt2/xslt3 on Saxon.
        ValidatorJob("xml-schema", "1.1.0"),
        ValidatorJob("shacl", "1.0.0"),
    )
}


def validator_job(name: str) -> ValidatorJob:
    try:
        return JOBS[name]
    except KeyError:
        raise LookupError(f"unknown validator {name!r}; known: {sorted(JOBS)}") from None
