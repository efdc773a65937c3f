"""Configuration from the environment (prefix ASSAY_), read once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSAY_", extra="ignore", populate_by_name=True)

    project: str = Field(default="assay-local", validation_alias="GOOGLE_CLOUD_PROJECT")
    region: str = "us-central1"

    # Where submissions and execution bundles live: file:///abs/path or gs://bucket.
    storage_uri: str = "file:///tmp/assay-storage"
    # Where users drop files for the upload trigger (`{org}/{workflow}/{filename}`).
    uploads_uri: str = "file:///tmp/assay-uploads"

    # Cloud Tasks: queue and the identity its OIDC tokens carry. The endpoint is only
    # set to point the real client at a local stand-in.
    tasks_queue: str = "launches"
    tasks_service_account: str = ""
    tasks_endpoint: str | None = None

    # Cloud Run Jobs; endpoint set only for the local stand-in.
    jobs_endpoint: str | None = None
    job_prefix: str = "validator-"
    # Cloud Scheduler (the CLI's `admin schedules`); endpoint set only for the stand-in.
    scheduler_endpoint: str | None = None

    launch_url: str = "http://127.0.0.1:8081"
    callback_url: str = "http://127.0.0.1:8082"
    purge_url: str = "http://127.0.0.1:8083"
    retry_url: str = "http://127.0.0.1:8084"
    upload_url: str = "http://127.0.0.1:8085"

    # Where Google's ID-token signing certificates are served (v1: PEM by key id).
    certs_url: str = GOOGLE_CERTS_URL
    launch_invokers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    callback_invokers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    purge_invokers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    retry_invokers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    upload_invokers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The purge function stops starting work this long after it began (its timeout is
    # longer), leaving the rest for the next tick.
    purge_deadline_seconds: float = 540

    max_upload_bytes: int = 10 * 1024 * 1024
    inline_max_bytes: int = 64 * 1024
    validator_timeout_seconds: int = 600
    # A launch claim outlives the launch function's own timeout, so an expired claim
    # means the launch that held it is dead.
    launch_claim_seconds: int = 120
    idempotency_ttl_hours: int = 24

    @field_validator(
        "launch_invokers",
        "callback_invokers",
        "purge_invokers",
        "retry_invokers",
        "upload_invokers",
        mode="before",
    )
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
