"""`assay admin migrate`: one-off changes to stored records that an upgrade needs
(docs/deploy.md, "Upgrade notes"). Each is idempotent: run again, it finds nothing left."""

from __future__ import annotations

from dataclasses import asdict

import click

from cli.output import emit


@click.group()
def migrate() -> None:
    """Bring stored records up to what this version expects."""


@migrate.command("upload-inputs")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def upload_inputs(as_json: bool) -> None:
    """Copy inputs still read from the uploads bucket into the content location, and
    point their submissions at the copies. Run it before the uploads bucket's age rule
    is applied: the rule would delete those inputs."""
    from shared import wiring
    from shared.platform.config import get_settings
    from shared.services.upload_inputs import migrate_upload_inputs

    report = migrate_upload_inputs(wiring.repositories(), wiring.blob_store(), get_settings())
    text = (
        f"{report.found} submissions read their input from the uploads bucket: "
        f"{report.moved} now read a copy, {report.purged} were purged meanwhile, "
        f"{len(report.missing)} have no object left"
    )
    if report.missing:
        text += " (" + ", ".join(report.missing) + ")"
    emit(as_json, asdict(report), text)
