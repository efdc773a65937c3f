"""Configuration from the environment (prefix ASSAY_), read once per process.

The defaults suit the local stack. On Google Cloud (Cloud Run sets K_SERVICE for a
function, CLOUD_RUN_JOB for a job) a default would be a silent localhost address, so
there every URL, bucket and identity must be set explicitly, the local-only endpoints
must not be, and a function refuses to start otherwise, naming each variable.
"""

import os
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
# Where Identity-Aware Proxy publishes the ES256 keys of its signed header (a JWK set).
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"

# What a deployed function cannot do without (Terraform sets each of them).
REQUIRED_ON_GOOGLE_CLOUD = (
    "project",
    "region",
    "storage_uri",
    "uploads_uri",
    "tasks_service_account",
    "launch_url",
    "callback_url",
    "purge_url",
    "retry_url",
    "upload_url",
    "launch_invokers",
    "callback_invokers",
    "purge_invokers",
    "retry_invokers",
    "upload_invokers",
    "upload_signer",
    "job_url_signer",
)
# Stand-in endpoints: set on Google Cloud, they would send traffic to a local address.
LOCAL_ONLY = (
    "tasks_endpoint",
    "tasks_emulator_host",
    "jobs_endpoint",
    "scheduler_endpoint",
    "iam_endpoint",
    "storage_iam_endpoint",
    "iam_local_secret",
    "signed_url_endpoint",
    "webhooks_allow_loopback",
)


def on_google_cloud() -> bool:
    return bool(os.environ.get("K_SERVICE") or os.environ.get("CLOUD_RUN_JOB"))


def variable(field: str) -> str:
    """The environment variable behind a setting."""
    return "GOOGLE_CLOUD_PROJECT" if field == "project" else f"ASSAY_{field.upper()}"


def _environment() -> dict[str, str]:
    """Each setting's variable that is set, by field name."""
    return {
        name: os.environ[variable(name)]
        for name in Settings.model_fields
        if variable(name) in os.environ
    }


class Settings(BaseModel):
    """The settings: what the environment says, over the defaults; keyword arguments
    over both. (pydantic-settings would do this; its import costs a function's cold
    start ~50 ms of its sources for .env, secrets managers and CLIs Assay has none of.)"""

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        super().__init__(**(_environment() | values))

    project: str = "assay-local"
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
    # host:port of gcloud-tasks-emulator, which speaks gRPC only (tests use it).
    tasks_emulator_host: str | None = None

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
    # Webhook deliveries (decision record 0087): the function Cloud Tasks calls (unset:
    # no events are sent), its queue (retries for a day), and, on the local stack only,
    # leave to call http and loopback URLs (a receiver on 127.0.0.1); a deployment
    # refuses to start with it.
    webhooks_url: str = ""
    webhooks_queue: str = "webhooks"
    webhooks_invokers: tuple[str, ...] = ()
    webhooks_allow_loopback: bool = False

    # Where Google's ID-token signing certificates are served (v1: PEM by key id).
    certs_url: str = GOOGLE_CERTS_URL
    # People reach the console through Identity-Aware Proxy (decision record 0070): its
    # assertion must name exactly this audience, `/projects/NUMBER/global/backendServices/ID`
    # (Terraform's console_iap_audience output) or `/projects/NUMBER/apps/PROJECT`; unset,
    # nobody is let in. Its keys are IAP's own, or the local identity stand-in's.
    iap_audience: str = ""
    iap_certs_url: str = IAP_CERTS_URL
    # Who may call each private function. Tuples, so the empty default needs no factory:
    # pydantic reads a factory's signature, which for the builtin `list` means parsing
    # its text signature, a few ms of every cold start.
    launch_invokers: tuple[str, ...] = ()
    callback_invokers: tuple[str, ...] = ()
    purge_invokers: tuple[str, ...] = ()
    retry_invokers: tuple[str, ...] = ()
    upload_invokers: tuple[str, ...] = ()
    # Each validator's job identity, `json-schema=assay-validator-json-schema@P.iam…,…`:
    # the callback takes a step's result only from its own validator's job, not from any
    # account of callback_invokers (decision record 0020). A validator missing here has
    # its results refused.
    validator_identities: dict[str, str] = {}
    # The purge function stops starting work this long after it began (its timeout is
    # longer), leaving the rest for the next tick.
    purge_deadline_seconds: float = 540

    # Per API key and per instance of the api function (shared/api/auth/rate_limit.py).
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_burst: int = Field(default=120, ge=1)
    # Work in flight per org (shared/services/admission.py, decision record 0029). Per api
    # instance: inline checks (over it, a run takes the job path; also at most
    # inline_checks_per_instance for all orgs together) and held `Prefer: wait`s (over it,
    # the answer comes at once). Shared: runs not yet ended (over it, 429, Retry-After).
    org_inline_checks: int = Field(default=4, ge=0)
    inline_checks_per_instance: int = Field(default=8, ge=0)
    org_waits: int = Field(default=10, ge=0)
    org_runs_in_flight: int = Field(default=200, ge=1, le=10_000)
    # Requests without a valid API key, per client address and api instance; the address
    # is X-Forwarded-For's entry this many from its end (1: the one Google's front end
    # appends; 0: the connection's peer).
    anonymous_per_minute: int = Field(default=120, ge=1)
    anonymous_burst: int = Field(default=60, ge=1)
    forwarded_hops: int = Field(default=1, ge=0, le=10)
    # The API's own request body limit; bigger files go straight to the uploads bucket
    # by signed URL (POST .../uploads), up to max_object_bytes.
    max_upload_bytes: int = 10 * 1024 * 1024
    max_object_bytes: int = Field(default=5 * 1024**3, ge=1)
    # The service account that signs upload URLs (the api's own, through IAM's signBlob:
    # a function has no key file), and how long a URL stays valid.
    upload_signer: str = ""
    signed_url_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # Firestore's TTL deletes an upload event, and a signed-URL grant, this long after it
    # was made: far past Eventarc's retries (a day), so a late duplicate still finds it.
    upload_record_days: int = Field(default=30, ge=2)
    # Set only to point `assay admin uploaders` at the local bucket-IAM stand-in
    # (devstack.signed_url_gate); unset, the CLI talks to Cloud Storage.
    storage_iam_endpoint: str | None = None
    # The service account that signs each execution's URLs at launch (the worker's own):
    # a validator job holds no storage role and reaches only what it is signed
    # (decision record 0024). Unset: the launch signs none (tests that run no real job).
    job_url_signer: str = ""
    # Set only to point the IAM Credentials client, and the signed URLs, at the local
    # stand-ins (devstack.metadata_server, devstack.signed_url_gate).
    iam_endpoint: str | None = None
    signed_url_endpoint: str | None = None
    # The local IAM stand-in signs only for a caller presenting this (the stack's
    # functions; never a job process): what Google's IAM checks as signBlob permission.
    iam_local_secret: str | None = None
    # Run credentials (decision record 0086): the dedicated service account that signs
    # them through IAM's signBlob (the api may act as it, nothing else may), and the
    # issuer they name, the API's public URL (a verifier fetches its keys under it at
    # /.well-known/jwks.json). Unset signer: the API issues none (501).
    credential_signer: str = ""
    credential_issuer: str = ""
    # The fast path (execution auto): light validators run inside the api function for
    # files up to this size; a run's steps share fast_path_seconds (each step also keeps
    # its own timeout), each in a process the api kills at its deadline and limits to
    # fast_path_memory_mb of address space. The api function's timeout covers these.
    fast_path_max_bytes: int = Field(default=1024 * 1024, ge=0)
    fast_path_seconds: int = Field(default=30, ge=1, le=300)
    fast_path_memory_mb: int = Field(default=768, ge=128)
    # A launch claim outlives the launch function's own timeout, so an expired claim
    # means the launch that held it is dead.
    launch_claim_seconds: int = 120
    # A PENDING run (or a next step) not claimed this long after its launch was queued
    # gets its launch queued again by the reconcile pass.
    launch_grace_seconds: int = Field(default=120, ge=5)
    idempotency_ttl_hours: int = 24
    # Firestore's TTL deletes a callback receipt this long after it was taken: far past any
    # redelivery of its callback (the job's retries, Cloud Tasks' backoff, the reconcile
    # pass), so a late duplicate still finds it (decision record 0028).
    callback_receipt_days: int = Field(default=30, ge=1)

    @field_validator(
        "launch_invokers",
        "callback_invokers",
        "purge_invokers",
        "retry_invokers",
        "upload_invokers",
        "webhooks_invokers",
        mode="before",
    )
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("iap_audience")
    @classmethod
    def _iap_audience(cls, value: str) -> str:
        shapes = r"/projects/[0-9]+/(global/backendServices/[0-9]+|apps/[a-z][a-z0-9-]*)"
        if value and not re.fullmatch(shapes, value):
            raise ValueError(
                "ASSAY_IAP_AUDIENCE is /projects/NUMBER/global/backendServices/ID or "
                f"/projects/NUMBER/apps/PROJECT_ID, not {value!r}"
            )
        return value

    @field_validator("validator_identities", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = {}
        for item in (i.strip() for i in value.split(",") if i.strip()):
            name, _, email = item.partition("=")
            if not (name.strip() and email.strip()):
                raise ValueError(
                    "ASSAY_VALIDATOR_IDENTITIES takes comma-separated validator=email pairs, "
                    f"not {item!r}"
                )
            pairs[name.strip()] = email.strip()
        return pairs

    @model_validator(mode="after")
    def _explicit_on_google_cloud(self) -> "Settings":
        if not on_google_cloud():
            return self
        problems = [
            f"{variable(f)} is not set"
            for f in REQUIRED_ON_GOOGLE_CLOUD
            if f not in self.model_fields_set or not getattr(self, f)
        ]
        problems += [f"{variable(f)} is set" for f in LOCAL_ONLY if getattr(self, f)]
        if self.certs_url != GOOGLE_CERTS_URL:
            problems.append("ASSAY_CERTS_URL is not Google's: ID tokens would not be Google's")
        if self.iap_certs_url != IAP_CERTS_URL:
            problems.append("ASSAY_IAP_CERTS_URL is not IAP's: sign-ins would not be IAP's")
        if not self.storage_uri.startswith("gs://") or not self.uploads_uri.startswith("gs://"):
            problems.append("ASSAY_STORAGE_URI and ASSAY_UPLOADS_URI must be gs:// buckets")
        if problems:
            raise ValueError("on Google Cloud, " + "; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
