"""Settings: local defaults off Google Cloud; on it, nothing silent."""

import pytest
from pydantic import ValidationError

from shared.platform.config import REQUIRED_ON_GOOGLE_CLOUD, Settings, variable

CLOUD = {
    "GOOGLE_CLOUD_PROJECT": "acme-prod",
    "ASSAY_REGION": "europe-west1",
    "ASSAY_STORAGE_URI": "gs://acme-assay-content",
    "ASSAY_UPLOADS_URI": "gs://acme-assay-uploads",
    "ASSAY_TASKS_SERVICE_ACCOUNT": "assay-tasks@acme-prod.iam.gserviceaccount.com",
    "ASSAY_UPLOAD_SIGNER": "assay-api@acme-prod.iam.gserviceaccount.com",
    "ASSAY_JOB_URL_SIGNER": "assay-worker@acme-prod.iam.gserviceaccount.com",
    **{
        f"ASSAY_{name.upper()}_URL": f"https://{name}-123.europe-west1.run.app"
        for name in ("launch", "callback", "purge", "retry", "upload")
    },
    **{
        f"ASSAY_{name.upper()}_INVOKERS": f"assay-{name}@acme-prod.iam.gserviceaccount.com"
        for name in ("launch", "callback", "purge", "retry", "upload")
    },
}


@pytest.fixture
def clean(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("ASSAY_") or key in (
            "GOOGLE_CLOUD_PROJECT",
            "K_SERVICE",
            "CLOUD_RUN_JOB",
        ):
            monkeypatch.delenv(key)
    return monkeypatch


def test_off_google_cloud_the_local_defaults_apply(clean):
    settings = Settings()
    assert settings.launch_url.startswith("http://127.0.0.1")


def test_on_google_cloud_a_complete_configuration_starts(clean):
    for key, value in CLOUD.items():
        clean.setenv(key, value)
    clean.setenv("K_SERVICE", "api")
    settings = Settings()
    assert (settings.project, settings.upload_invokers) == (
        "acme-prod",
        ("assay-upload@acme-prod.iam.gserviceaccount.com",),
    )


@pytest.mark.parametrize("marker", ["K_SERVICE", "CLOUD_RUN_JOB"])
@pytest.mark.parametrize("missing", REQUIRED_ON_GOOGLE_CLOUD)
def test_on_google_cloud_each_missing_setting_is_named(clean, marker, missing):
    for key, value in CLOUD.items():
        if key != variable(missing):
            clean.setenv(key, value)
    clean.setenv(marker, "x")
    with pytest.raises(ValidationError, match=f"{variable(missing)} is not set"):
        Settings()


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("ASSAY_TASKS_ENDPOINT", "http://127.0.0.1:9", "ASSAY_TASKS_ENDPOINT is set"),
        ("ASSAY_JOBS_ENDPOINT", "http://127.0.0.1:9", "ASSAY_JOBS_ENDPOINT is set"),
        ("ASSAY_CERTS_URL", "http://127.0.0.1:9/certs", "not Google's"),
        ("ASSAY_STORAGE_URI", "file:///tmp/x", "must be gs:// buckets"),
    ],
)
def test_on_google_cloud_local_settings_are_refused(clean, key, value, says):
    for k, v in CLOUD.items():
        clean.setenv(k, v)
    clean.setenv(key, value)
    clean.setenv("K_SERVICE", "launch")
    with pytest.raises(ValidationError, match=says):
        Settings()
