"""Large files by signed URL: the API grants a V4 URL to PUT one file (up to
`max_object_bytes`, 5 GiB) straight into the uploads bucket, and the upload trigger makes
it a submission as it does any upload. The API's own body limit stays small.

The grant checks the workflow's rules first (type, size, project), so a file that would
be refused is refused before it is sent. Everything the trigger relies on is a signed
header the client must send unchanged: the content type, the size range, create-only
(no URL can replace an object), and who asked (API key, user, project) as object
metadata. The object is named `{org}/{workflow}/{upload id}/{filename}`, so two uploads
of `model.idf` never meet, and `GET /v1/orgs/{org}/uploads/{upload id}` says what became
of it. The grant is recorded (upload id, org, workflow, object name, key, expiry): the
trigger takes the object only on that record's word (decision record 0025).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from google.auth.credentials import Signing
from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.signing import signed_put_url
from shared.adapters.storage.layout import UploadsLayout, safe_filename
from shared.domain.callers import Caller
from shared.persistence.ports import Repositories, UploadGrant
from shared.platform.clock import Clock, utcnow
from shared.platform.config import Settings
from shared.platform.errors import Unprocessable
from shared.platform.ids import new_id
from shared.services.admission import check_queue
from shared.services.submissions import accept
from shared.services.uploads import API_KEY_KEY, OURS, PROJECT_KEY, USER_KEY

MAX_METADATA = 20


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(default="application/octet-stream", min_length=1, max_length=200)
    size_bytes: int = Field(ge=1)
    project_id: str | None = Field(default=None, min_length=1, max_length=200)
    user: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=MAX_METADATA)


@dataclass(frozen=True)
class UploadUrl:
    upload_id: str
    object_name: str
    url: str
    headers: dict[str, str]
    expires_at: datetime
    method: str = "PUT"


def _metadata(body: UploadUrlRequest, key: Caller) -> dict[str, str]:
    for name, value in body.metadata.items():
        if not name.isascii() or not name.replace("-", "").isalnum() or name.lower() in OURS:
            raise Unprocessable(
                f"metadata key {name[:64]!r}: letters, digits and '-' only (an HTTP header "
                "name), and not one Assay sets itself"
            )
        if not value.isascii() or not value.isprintable() or len(value) > 500:
            raise Unprocessable(f"metadata {name!r}: printable ASCII, at most 500 characters")
    # Cloud Storage keeps metadata keys as sent; header names are case-blind, so lower.
    fields = {k.lower(): v for k, v in body.metadata.items()} | {API_KEY_KEY: key.id}
    if body.project_id:
        fields[PROJECT_KEY] = body.project_id
    if body.user:
        fields[USER_KEY] = body.user
    return fields


def grant_upload(
    repos: Repositories,
    settings: Settings,
    signer: Signing,
    key: Caller,
    slug: str,
    body: UploadUrlRequest,
    now: Clock = utcnow,
) -> UploadUrl:
    filename = _plain_filename(body.filename)
    _admit(repos, settings, key, slug, body, filename)
    upload_id = new_id()
    name = UploadsLayout.object_name(key.org_id, slug, filename, upload_id)
    headers = _signed_headers(body, key)
    lifetime = timedelta(seconds=settings.signed_url_seconds)
    bucket = UploadsLayout(settings.uploads_uri).bucket
    url = signed_put_url(settings, signer, bucket, name, headers, lifetime)
    at = now()
    # The trigger takes the object only because this record vouches for it.
    grant = UploadGrant(
        id=upload_id,
        org_id=key.org_id,
        workflow_slug=slug,
        filename=filename,
        object_name=name,
        api_key_id=key.id,
        created_at=at,
        expires_at=at + lifetime,
        expire_at=at + timedelta(days=settings.upload_record_days),
    )
    repos.uploads.record_grant(grant)
    return UploadUrl(upload_id, name, url, headers, at + lifetime)


def _plain_filename(filename: str) -> str:
    plain = safe_filename(filename)
    if plain != filename:
        raise Unprocessable(
            f"filename {filename[:200]!r} must be a plain name of letters, digits, "
            f"'.', '-' and '_' (for example {plain!r})"
        )
    return plain


def _admit(
    repos: Repositories,
    settings: Settings,
    key: Caller,
    slug: str,
    body: UploadUrlRequest,
    filename: str,
) -> None:
    """Refuses, before the file is sent, what the workflow or the org's queue would."""
    accept(
        repos,
        settings,
        key.org_id,
        slug,
        size=body.size_bytes,
        filename=filename,
        content_type=body.content_type,
        project_id=body.project_id,
        limit=settings.max_object_bytes,
    )
    # The org's runs in flight bound its grants too (0029): a signed URL is a way in to
    # the job path like any submission, so at the limit it gets 429, not a URL.
    check_queue(repos, settings, key.org_id)


def _signed_headers(body: UploadUrlRequest, key: Caller) -> dict[str, str]:
    """What the client must send unchanged: the URL's signature covers each."""
    return {
        "Content-Type": body.content_type,
        "x-goog-content-length-range": f"{body.size_bytes},{body.size_bytes}",
        "x-goog-if-generation-match": "0",
        **{f"x-goog-meta-{k}": v for k, v in sorted(_metadata(body, key).items())},
    }
