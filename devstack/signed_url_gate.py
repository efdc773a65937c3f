"""A local stand-in for Cloud Storage's XML API as a V4 signed URL reaches it: `PUT` or
`GET /{bucket}/{object}?X-Goog-Algorithm=GOOG4-RSA-SHA256&…`.

It checks what Cloud Storage checks, from its documented canonical request (not from
the library that built the URL): the signature against the signer's published
certificate, the expiry, every signed header present and unchanged (and no x-goog-*
header that is not signed), the declared
content-length range, and `x-goog-if-generation-match: 0`. Then it streams the body
into the bucket's local store (a folder, or the storage emulator) with the
`x-goog-meta-*` headers as custom metadata, where the upload notifier sees it as it
would see any upload. A signed GET streams the object back. Refusals are Cloud
Storage's XML errors with its status codes.

It fronts the uploads location and the content location alike, so a validator job on
the local stack reaches its run's objects only through the URLs its launch signed, as
in Google Cloud, where the job holds no storage role (decision record 0024).

It also plays the bucket's IAM (devstack.bucket_iam; the emulator has none): the policy
API `assay admin uploaders` calls, and writes with the writer's own credentials (`PUT
/{bucket}/{object}` with `Authorization: Bearer <ID token>`), allowed only where the
policy's conditions let that principal create that name (decision record 0025).
"""

from __future__ import annotations

import argparse
import binascii
import errno
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import jwt
from google.auth.exceptions import GoogleAuthError
from werkzeug.wrappers import Request, Response

from devstack.bucket_iam import IAM_PATH, BucketPolicies
from shared.adapters.storage import BlobExists, BlobNotFound, open_store
from shared.adapters.storage.layout import UploadsLayout

READ_CHUNK = 1024 * 1024

ALGORITHM = "GOOG4-RSA-SHA256"
CLOCK_SKEW = timedelta(minutes=15)
MAX_EXPIRES = 7 * 24 * 3600
# The audience a direct writer's ID token names: Cloud Storage's, as an access token's
# would be.
STORAGE_AUDIENCE = "https://storage.googleapis.com/"


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
        )
        return Response(body, status=self.status, mimetype="application/xml")


def _quote(value: str) -> str:
    return quote(value, safe="~")


def canonical_request(request: Request, query: list[tuple[str, str]], signed: list[str]) -> str:
    raw_path = request.environ.get("RAW_URI", request.full_path).split("?", 1)[0]
    # Sorted by name (then value), as Google's canonical query string is.
    pairs = sorted((_quote(k), _quote(v)) for k, v in query if k != "X-Goog-Signature")
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    unsigned = [
        name
        for name in (key.lower() for key, _ in request.headers.items())
        if name.startswith("x-goog-") and name not in signed
    ]
    if unsigned:
        raise Refused(403, "SignatureDoesNotMatch", f"{unsigned[0]} is sent but not signed")
    headers = ""
    for name in signed:
        value = request.headers.get(name)
        if value is None:
            raise Refused(403, "SignatureDoesNotMatch", f"the signed header {name} is missing")
        headers += f"{name}:{' '.join(value.split())}\n"
    return "\n".join(
        [request.method, raw_path, canonical_query, headers, ";".join(signed), "UNSIGNED-PAYLOAD"]
    )


MAX_NAME_BYTES = 1024


def _bucket_and_name(request: Request) -> tuple[str, str]:
    """The bucket and object name of the request's path, refused as Cloud Storage
    refuses them: not UTF-8, over 1,024 bytes, or holding a carriage return or line
    feed. `.`, `..` and empty segments, which Cloud Storage takes literally, are refused
    too: a folder would climb out of itself."""
    # From the request line itself: the server's decoded path (and request.path) would
    # replace bytes that are not UTF-8, and so name another object.
    line = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    raw = unquote_to_bytes(line.split("?", 1)[0]) if line else request.path.encode()
    bucket, _, name_bytes = raw.lstrip(b"/").partition(b"/")
    try:
        name = name_bytes.decode()
    except UnicodeDecodeError:
        raise Refused(400, "InvalidObjectName", "an object name is UTF-8") from None
    if len(name_bytes) > MAX_NAME_BYTES or "\r" in name or "\n" in name:
        raise Refused(400, "InvalidObjectName", "at most 1,024 bytes, no CR or LF")
    if name and any(part in ("", ".", "..") for part in name.split("/")):
        raise Refused(400, "InvalidObjectName", f"{name!r} is not an object name here")
    return bucket.decode("utf-8", "replace"), name


def _exists(root: str, name: str) -> bool:
    try:
        with open_store(root).open_read(UploadsLayout(root).object_uri(name)) as handle:
            handle.read(1)
    except BlobNotFound:
        return False
    return True


def _preflight(request: Request, origin: str) -> Response:
    """A browser's CORS preflight for a PUT from an allowed page, answered as Cloud
    Storage answers it for a bucket whose CORS configuration lists the origin."""
    asked = request.headers.get("Access-Control-Request-Headers", "")
    return Response(
        status=200,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "PUT",
            "Access-Control-Allow-Headers": asked,
            "Access-Control-Max-Age": "3600",
            "Vary": "Origin",
        },
    )


class SignedUrlGate:
    def __init__(
        self,
        buckets: dict[str, str],
        certs_url: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        id_certs_url: str | None = None,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        """`buckets`: bucket name -> its store's root URI; `certs_url`: where a signer's
        certificates are published, `{email}` standing for the account; `id_certs_url`:
        the certificates of the ID tokens a direct writer presents (none: no direct
        writes); `cors_origins`: the pages allowed to PUT from a browser (the console),
        as the uploads bucket's CORS configuration allows them in the cloud."""
        self.buckets = buckets
        self.cors_origins = frozenset(cors_origins)
        self.certs_url = certs_url
        self.now = now
        self.id_certs_url = id_certs_url
        self.policies = BucketPolicies(set(buckets))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        origin = request.headers.get("Origin")
        allowed = origin if origin in self.cors_origins else None
        if request.method == "OPTIONS" and allowed is not None:
            return _preflight(request, allowed)(environ, start_response)
        try:
            response = self.respond(request)
        except Refused as refused:
            request.close()
            response = refused.response()
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Vary"] = "Origin"
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        iam = IAM_PATH.fullmatch(request.path)
        if iam is not None:
            return self.policies.respond(request, iam.group(1))
        if request.method not in ("GET", "PUT"):
            raise Refused(405, "MethodNotAllowed", "this stand-in takes signed GETs and PUTs")
        query = parse_qsl(request.query_string.decode(), keep_blank_values=True)
        params = dict(query)
        if request.method == "PUT" and "X-Goog-Signature" not in params:
            return self._direct_write(request)
        email = self._verify(request, query, params)
        bucket, name = _bucket_and_name(request)
        root = self.buckets.get(bucket)
        if root is None or not name:
            raise Refused(404, "NoSuchBucket", f"the bucket {bucket!r} does not exist")
        if request.method == "GET":
            return self._read(root, name, email)
        return self._write(request, root, name, params, email)

    @staticmethod
    def _read(root: str, name: str, email: str) -> Response:
        """Streams the object back; its first chunk is read before answering, so a
        missing object is a 404 rather than a broken 200."""
        opened = open_store(root).open_read(UploadsLayout(root).object_uri(name))
        try:
            handle = opened.__enter__()
            first = handle.read(READ_CHUNK)
        except BlobNotFound:
            raise Refused(404, "NoSuchKey", "the specified key does not exist") from None

        def chunks() -> Any:
            try:
                chunk = first
                while chunk:
                    yield chunk
                    chunk = handle.read(READ_CHUNK)
            finally:
                opened.__exit__(None, None, None)

        return Response(
            chunks(),
            mimetype="application/octet-stream",
            headers={"x-assay-signer": email},
            direct_passthrough=True,
        )

    def _direct_write(self, request: Request) -> Response:
        """A write with the writer's own credentials (`Authorization: Bearer`, an ID
        token of the metadata stand-in): allowed only when the bucket's IAM policy lets
        that principal create that name, and never over an existing object (creating is
        all roles/storage.objectCreator allows)."""
        principal = self._principal(request)
        bucket, name = _bucket_and_name(request)
        root = self.buckets.get(bucket)
        if root is None or not name:
            raise Refused(404, "NoSuchBucket", f"the bucket {bucket!r} does not exist")
        if not self.policies.may_create(bucket, principal, name):
            raise Refused(
                403, "AccessDenied", f"{principal} does not have storage.objects.create here"
            )
        if _exists(root, name):
            # Checked here too: the storage emulator ignores ifGenerationMatch=0.
            raise Refused(403, "AccessDenied", f"{principal} may not replace {name}")
        metadata = {
            key.lower()[len("x-goog-meta-") :]: value
            for key, value in request.headers.items()
            if key.lower().startswith("x-goog-meta-")
        }
        try:
            return self._store(request, root, name, metadata, create_only=True, email=principal)
        except Refused as refused:
            if refused.status != 412:
                raise
            raise Refused(403, "AccessDenied", f"{principal} may not replace {name}") from None

    def _principal(self, request: Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or not self.id_certs_url:
            raise Refused(403, "AccessDenied", "anonymous callers may not write to this bucket")
        try:
            certs = requests.get(self.id_certs_url, timeout=10).json()
            claims = jwt.decode(token, certs=certs, audience=STORAGE_AUDIENCE)
        except (ValueError, GoogleAuthError, requests.RequestException) as exc:
            raise Refused(401, "AuthenticationRequired", f"invalid credentials: {exc}") from None
        email = str(claims.get("email", ""))
        kind = "serviceAccount" if email.endswith(".gserviceaccount.com") else "user"
        return f"{kind}:{email}"

    def _write(
        self, request: Request, root: str, name: str, params: dict[str, str], email: str
    ) -> Response:
        # From the signed names: WSGI spells `_` in a header's name as `-` on the way in.
        metadata = {
            name[len("x-goog-meta-") :]: request.headers[name]
            for name in params["X-Goog-SignedHeaders"].split(";")
            if name.startswith("x-goog-meta-")
        }
        create_only = request.headers.get("x-goog-if-generation-match") == "0"
        return self._store(request, root, name, metadata, create_only=create_only, email=email)

    def _store(
        self,
        request: Request,
        root: str,
        name: str,
        metadata: dict[str, str],
        *,
        create_only: bool,
        email: str,
    ) -> Response:
        size = self._size(request)
        uri = UploadsLayout(root).object_uri(name)
        # x-goog-custom-time, when signed, is checked like any signed header; the local
        # stores keep no customTime (no lifecycle rules run here).
        try:
            generation = open_store(root).write_stream(
                uri,
                request.stream,
                request.headers.get("Content-Type", ""),
                create_only=create_only,
                metadata=metadata,
            )
        except BlobExists:
            raise Refused(412, "PreconditionFailed", f"{name} exists") from None
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            # A folder's segment holds 255 bytes; Cloud Storage's whole name 1,024.
            raise Refused(400, "InvalidObjectName", "a segment is too long here") from None
        headers = {"x-goog-generation": str(generation), "x-goog-stored-content-length": str(size)}
        return Response("", status=200, headers=headers | {"x-assay-signer": email})

    def _verify(
        self, request: Request, query: list[tuple[str, str]], params: dict[str, str]
    ) -> str:
        if params.get("X-Goog-Algorithm") != ALGORITHM or "X-Goog-Signature" not in params:
            raise Refused(403, "AccessDenied", "anonymous callers may not write to this bucket")
        try:
            email, date, *_ = params["X-Goog-Credential"].split("/")
            signed_at = datetime.strptime(params["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=UTC
            )
            lifetime = timedelta(seconds=int(params["X-Goog-Expires"]))
            signed = params["X-Goog-SignedHeaders"].split(";")
            signature = binascii.unhexlify(params["X-Goog-Signature"])
        except (KeyError, ValueError, binascii.Error):
            raise Refused(400, "AuthorizationQueryParametersError", "malformed query") from None
        if date != params["X-Goog-Date"][:8]:
            raise Refused(400, "AuthorizationQueryParametersError", "credential date differs")
        if not 0 < lifetime.total_seconds() <= MAX_EXPIRES:
            raise Refused(400, "AuthorizationQueryParametersError", "X-Goog-Expires is over a week")
        if "host" not in signed:
            raise Refused(400, "AuthorizationQueryParametersError", "host must be a signed header")
        now = self.now()
        if now > signed_at + lifetime:
            raise Refused(400, "ExpiredToken", "the provided token has expired")
        if signed_at > now + CLOCK_SKEW:
            raise Refused(400, "RequestTimeTooSkewed", "the request is signed in the future")
        canonical = canonical_request(request, query, signed)
        scope = params["X-Goog-Credential"].split("/", 1)[1]
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = "\n".join([ALGORITHM, params["X-Goog-Date"], scope, digest]).encode()
        if not any(self._valid(key, signature, to_sign) for key in self._keys(email)):
            raise Refused(403, "SignatureDoesNotMatch", "the signature does not match")
        return email

    def _keys(self, email: str) -> list[rsa.RSAPublicKey]:
        answer = requests.get(self.certs_url.format(email=email), timeout=10)
        if answer.status_code != 200:
            return []
        keys = [
            x509.load_pem_x509_certificate(pem.encode()).public_key()
            for pem in answer.json().values()
        ]
        return [k for k in keys if isinstance(k, rsa.RSAPublicKey)]

    @staticmethod
    def _valid(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> bool:
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    @staticmethod
    def _size(request: Request) -> int:
        if request.content_length is None:
            raise Refused(411, "MissingContentLength", "a PUT needs its Content-Length")
        size = request.content_length
        allowed = request.headers.get("x-goog-content-length-range")
        if allowed:
            low, _, high = allowed.partition(",")
            if not (low.strip().isdigit() and high.strip().isdigit()):
                raise Refused(400, "InvalidArgument", "x-goog-content-length-range is min,max")
            if size < int(low):
                raise Refused(400, "EntityTooSmall", f"{size} bytes; at least {low}")
            if size > int(high):
                raise Refused(400, "EntityTooLarge", f"{size} bytes; at most {high}")
        return size


def main() -> None:
    from devstack.net import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append", default=[], help="NAME=ROOT_URI")
    parser.add_argument("--certs-url", required=True, help="with {email} for the account")
    parser.add_argument("--id-certs-url", default=None, help="direct writers' ID token certs")
    parser.add_argument("--cors-origin", action="append", default=[], help="a page that may PUT")
    args = parser.parse_args()
    buckets = dict(spec.split("=", 1) for spec in args.bucket)
    origins, direct = tuple(args.cors_origin), args.id_certs_url
    gate = SignedUrlGate(buckets, args.certs_url, id_certs_url=direct, cors_origins=origins)
    serve(gate, args.port)


if __name__ == "__main__":
    main()
