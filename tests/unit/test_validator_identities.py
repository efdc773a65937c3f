"""ASSAY_VALIDATOR_IDENTITIES, and the metadata stand-in answering as a job's account."""

import pytest
from pydantic import ValidationError
from werkzeug.test import Client

from devstack import units
from devstack.metadata_server import MetadataServer, identity_host
from shared.platform.config import Settings

FMU = "assay-validator-fmu@p.iam.gserviceaccount.com"


def test_the_setting_reads_validator_email_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_VALIDATOR_IDENTITIES", f" fmu={FMU}, json-schema=a@b ,")
    assert Settings().validator_identities == {"fmu": FMU, "json-schema": "a@b"}
    monkeypatch.setenv("ASSAY_VALIDATOR_IDENTITIES", f"fmu={FMU},energyplus")
    with pytest.raises(ValidationError, match="validator=email pairs, not 'energyplus'"):
        Settings()


def test_units_json_gives_every_validator_job_its_own_identity() -> None:
    identities = units.validator_identities("p")
    assert identities["fmu"] == FMU
    assert len(set(identities.values())) == len(units.load().jobs) == len(identities)


def test_under_a_job_s_prefix_default_is_that_job_s_account() -> None:
    other = "assay-validator-energyplus@p.iam.gserviceaccount.com"
    client = Client(MetadataServer([FMU, other], None, "p"))
    flavor = {"Metadata-Flavor": "Google"}
    path = "/computeMetadata/v1/instance/service-accounts/default/email"
    prefix = identity_host("127.0.0.1:1", FMU).removeprefix("127.0.0.1:1")
    assert client.get(prefix + path, headers=flavor).get_data(as_text=True) == FMU
    # Without a prefix there is no default account; an unknown account is a 404.
    assert client.get(path, headers=flavor).status_code == 404
    unknown = identity_host("", "nobody@p.iam.gserviceaccount.com")
    assert client.get(unknown + path, headers=flavor).status_code == 404
    assert client.get(prefix + "/", headers=flavor).status_code == 200  # google-auth's ping
