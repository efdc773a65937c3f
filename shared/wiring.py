"""The process's adapters, built lazily on first use and then reused (cold start
matters: a function pays only for the clients it touches)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config import get_settings

if TYPE_CHECKING:
    from shared.adapters.jobs import JobRunner
    from shared.adapters.signing import IamSigner
    from shared.adapters.tasks import TaskQueue
    from shared.auth.rate_limit import RateLimiter
    from shared.persistence.repositories import Repositories
    from shared.storage import BlobStore


@lru_cache(maxsize=1)
def repositories() -> Repositories:
    from shared.persistence.repositories import get_repositories

    return get_repositories()


@lru_cache(maxsize=1)
def blob_store() -> BlobStore:
    from shared.storage import open_store

    return open_store(get_settings().storage_uri)


@lru_cache(maxsize=1)
def task_queue() -> TaskQueue:
    from shared.adapters.tasks import get_queue

    return get_queue(get_settings())


@lru_cache(maxsize=1)
def rate_limiter() -> RateLimiter:
    from shared.auth.rate_limit import RateLimiter

    settings = get_settings()
    return RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)


@lru_cache(maxsize=1)
def job_runner() -> JobRunner:
    from shared.adapters.jobs import get_job_runner

    return get_job_runner(get_settings())


@lru_cache(maxsize=1)
def upload_signer() -> IamSigner:
    from shared.adapters.signing import IamSigner

    return IamSigner(get_settings())


@lru_cache(maxsize=1)
def job_url_signer() -> IamSigner | None:
    """The worker's own signer for each execution's URLs; None where none is set."""
    from shared.adapters.signing import IamSigner

    settings = get_settings()
    return IamSigner(settings, settings.job_url_signer) if settings.job_url_signer else None


def reset() -> None:
    """Forget every cached client and the settings (tests change the environment)."""
    from shared.persistence.firestore import get_client
    from shared.storage import _store

    caches = (
        repositories,
        blob_store,
        task_queue,
        job_runner,
        upload_signer,
        job_url_signer,
        rate_limiter,
        get_settings,
        get_client,
        _store,
    )
    for cached in caches:
        cached.cache_clear()
