"""A bucket's IAM policy, read and written at version 3 (conditions) with its etag: a
concurrent change of the policy fails the write with `Conflict`."""

from __future__ import annotations

from typing import Any, Protocol

POLICY_VERSION = 3


class Conflict(Exception):
    """The policy changed since it was read (its etag no longer matches)."""


class BucketIam(Protocol):
    """The bucket's IAM policy as google-cloud-storage's Policy holds it: `bindings`, a
    list of {"role", "members", "condition"} dicts."""

    def get(self) -> Any: ...

    def set(self, policy: Any) -> None:
        """Raises Conflict when the policy changed since `get`."""
        ...


class StorageBucketIam:
    """BucketIam over google-cloud-storage: Cloud Storage's JSON API, or the local
    stand-in at `endpoint` (anonymous, as the local stack has no Google accounts)."""

    def __init__(self, bucket: str, endpoint: str | None = None) -> None:
        from google.cloud.storage import Client

        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            client = Client(
                project="local",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": endpoint},
            )
        else:
            client = Client()
        self.bucket = client.bucket(bucket)

    def get(self) -> Any:
        return self.bucket.get_iam_policy(requested_policy_version=POLICY_VERSION)

    def set(self, policy: Any) -> None:
        from google.api_core import exceptions

        try:
            self.bucket.set_iam_policy(policy)
        except (exceptions.PreconditionFailed, exceptions.Conflict):
            raise Conflict() from None
