"""V4 signed URLs (uploads; each execution's inputs and outputs), signed as a service
account through the IAM Credentials API's `signBlob`: a function runs with
metadata-server credentials, which hold no private key. google-cloud-storage builds
the URL; only the signature comes from IAM.

With `ASSAY_IAM_ENDPOINT` set, the same client talks REST to the local stand-in
(devstack.metadata_server), which signs with its own key and publishes the certificate
where Google publishes a service account's.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any

from google.auth import credentials as auth_credentials

from shared.platform.config import Settings
from shared.platform.errors import NotConfigured, Transient

GOOGLE_STORAGE = "https://storage.googleapis.com"


class IamSigner(auth_credentials.Signing):
    """google-auth's Signing interface over IAM's signBlob, for one service account."""

    def __init__(self, settings: Settings, email: str | None = None) -> None:
        """Signs as `email`, by default the upload signer (the api's own account)."""
        if email is None and not settings.upload_signer:
            raise NotConfigured(
                "this deployment signs no upload URLs (ASSAY_UPLOAD_SIGNER is not set); "
                "send files of up to the API's limit to POST .../runs instead"
            )
        self.settings = settings
        self.email = email or settings.upload_signer

    @cached_property
    def client(self) -> Any:
        from google.cloud.iam_credentials_v1 import IAMCredentialsClient

        if self.settings.iam_endpoint is None:
            return IAMCredentialsClient()
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials, Credentials
        from google.oauth2.credentials import Credentials as BearerCredentials

        secret = self.settings.iam_local_secret
        credentials: Credentials = (
            BearerCredentials(token=secret) if secret else AnonymousCredentials()
        )
        return IAMCredentialsClient(
            transport="rest",
            client_options=ClientOptions(api_endpoint=self.settings.iam_endpoint),
            credentials=credentials,
        )

    def sign_bytes(self, message: bytes) -> bytes:
        return self.sign_blob(message)[0]

    def sign_blob(self, message: bytes) -> tuple[bytes, str]:
        """The signature and the id of the key IAM signed with (Google rotates an
        account's keys: a credential names the one that signed it)."""
        from google.api_core import exceptions

        try:
            response = self.client.sign_blob(
                name=f"projects/-/serviceAccounts/{self.email}", payload=message, timeout=30
            )
        except (exceptions.PermissionDenied, exceptions.Forbidden, exceptions.NotFound) as exc:
            raise NotConfigured(
                f"cannot sign as {self.email}: it needs iam.serviceAccounts.signBlob on that "
                f"account (the assayUrlSigner role, or assayCredentialSigner for the "
                f"credential signer, infra/iam.tf): {exc.message}"
            ) from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            # Quota (429), unavailable, deadline: IAM may answer next time.
            raise Transient(
                f"IAM cannot sign just now: {exc}", headers={"Retry-After": "5"}
            ) from exc
        return bytes(response.signed_blob), str(response.key_id)

    @property
    def signer_email(self) -> str:
        return self.email

    @property
    def signer(self) -> Any:
        return self


def signed_put_url(
    settings: Settings,
    signer: auth_credentials.Signing,
    bucket: str,
    name: str,
    headers: dict[str, str],
    lifetime: timedelta,
) -> str:
    """A V4 URL to PUT `bucket/name` once with exactly `headers` (each one signed)."""
    return _signed(settings, signer, "PUT", bucket, name, headers, lifetime)


def signed_get_url(
    settings: Settings,
    signer: auth_credentials.Signing,
    bucket: str,
    name: str,
    lifetime: timedelta,
) -> str:
    """A V4 URL to GET `bucket/name` (that object only) until it expires."""
    return _signed(settings, signer, "GET", bucket, name, {}, lifetime)


def _signed(
    settings: Settings,
    signer: auth_credentials.Signing,
    method: str,
    bucket: str,
    name: str,
    headers: dict[str, str],
    lifetime: timedelta,
) -> str:
    from google.cloud.storage import Client

    blob = Client.create_anonymous_client().bucket(bucket).blob(name)
    url: str = blob.generate_signed_url(
        version="v4",
        method=method,
        expiration=lifetime,
        credentials=signer,
        api_access_endpoint=settings.signed_url_endpoint or GOOGLE_STORAGE,
        headers=headers or None,
    )
    return url
