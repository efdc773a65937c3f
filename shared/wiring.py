"""The process's adapters, built lazily on first use and then reused (cold start
matters: a function pays only for the clients it touches). Each is built once per
process under a lock (shared/platform/once.py): the api serves concurrent requests, and state
such as the admission counters must be one per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Every function reads the database on every call: its client library loads at start.
from shared.persistence.firestore.store import get_repositories
from shared.platform.config import get_settings
from shared.platform.once import once

if TYPE_CHECKING:
    from shared.adapters.bucket_iam import BucketIam
    from shared.adapters.jobs import JobRunner
    from shared.adapters.signing import IamSigner
    from shared.adapters.storage import BlobStore
    from shared.adapters.tasks import TaskQueue
    from shared.api.auth.rate_limit import RateLimiter
    from shared.persistence.ports import Repositories
    from shared.services.admission import Admission


@once
def repositories() -> Repositories:
    return get_repositories()


@once
def blob_store() -> BlobStore:
    from shared.adapters.storage import open_store

    return open_store(get_settings().storage_uri)


@once
def task_queue() -> TaskQueue:
    from shared.adapters.tasks import get_queue

    return get_queue(get_settings())


@once
def rate_limiter() -> RateLimiter:
    from shared.api.auth.rate_limit import RateLimiter

    settings = get_settings()
    return RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)


@once
def anonymous_limiter() -> RateLimiter:
    """Requests without a valid API key, per client address."""
    from shared.api.auth.rate_limit import RateLimiter

    settings = get_settings()
    return RateLimiter(
        settings.anonymous_per_minute,
        settings.anonymous_burst,
        who="this address, without a valid API key,",
    )


@once
def admission() -> Admission:
    from shared.services.admission import Admission

    return Admission(get_settings())


@once
def job_runner() -> JobRunner:
    from shared.adapters.jobs import get_job_runner

    return get_job_runner(get_settings())


def uploads_bucket_iam() -> tuple[BucketIam, str] | None:
    """The uploads bucket's IAM policy and the bucket's name, where a policy can be
    changed: Cloud Storage, or the local stand-in (ASSAY_STORAGE_IAM_ENDPOINT); None for
    a folder, which has no policy."""
    from shared.adapters.bucket_iam import StorageBucketIam
    from shared.adapters.storage.layout import UploadsLayout

    settings = get_settings()
    if not settings.uploads_uri.startswith("gs://") and not settings.storage_iam_endpoint:
        return None
    bucket = UploadsLayout(settings.uploads_uri).bucket
    return StorageBucketIam(bucket, settings.storage_iam_endpoint), bucket


@once
def upload_signer() -> IamSigner:
    from shared.adapters.signing import IamSigner

    return IamSigner(get_settings())


@once
def job_url_signer() -> IamSigner | None:
    """The worker's own signer for each execution's URLs; None where none is set."""
    from shared.adapters.signing import IamSigner

    settings = get_settings()
    return IamSigner(settings, settings.job_url_signer) if settings.job_url_signer else None


def reset() -> None:
    """Forget every cached client and the settings (tests change the environment)."""
    from shared.adapters.storage import _store
    from shared.persistence.firestore.client import get_client

    caches = (
        repositories,
        blob_store,
        task_queue,
        job_runner,
        upload_signer,
        job_url_signer,
        rate_limiter,
        anonymous_limiter,
        admission,
        get_settings,
        get_client,
        _store,
    )
    for cached in caches:
        cached.cache_clear()
