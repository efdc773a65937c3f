"""A local stand-in for the GCE/Cloud Run metadata server.

It mints RS256 ID tokens shaped like Google's (iss https://accounts.google.com, the
service account's email, email_verified true) at the identity endpoint, and serves the
signing certificate at /oauth2/v1/certs in the format of Google's v1 certs URL. With
GCE_METADATA_HOST and GCE_METADATA_IP pointing here, google-auth's
`id_token.fetch_id_token` works unchanged. It also answers IAM Credentials' `signBlob`
for its accounts and publishes their certificate as Google does
(/service_accounts/v1/metadata/x509/{email}), for signed upload URLs.

On Cloud Run each container's metadata server answers as the container's own service
account. Here one server answers for every process, so a job's GCE_METADATA_HOST ends in
`/_local/as/{email}` (`identity_host`): under that prefix `default` is that job's own
account, and google-auth, which joins its paths onto the host, needs no change.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from werkzeug.wrappers import Request, Response

ISSUER = "https://accounts.google.com"
FLAVOR = {"Metadata-Flavor": "Google"}
AS_PREFIX = "/_local/as/"


def identity_host(host: str, email: str) -> str:
    """The GCE_METADATA_HOST under which this server answers as `email` (host:port)."""
    return f"{host.rstrip('/')}{AS_PREFIX}{email}"


class TokenMinter:
    """An RSA key with its certificate, signing Google-shaped ID tokens."""

    def __init__(self, key_id: str | None = None) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assay-local-metadata")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        # The key id is a label, not a security boundary; tests reuse one to forge.
        self.key_id = key_id or hashlib.sha256(self.cert_pem.encode()).hexdigest()[:40]
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.signer = crypt.RSASigner.from_string(private, key_id=self.key_id)

    def certs(self) -> dict[str, str]:
        return {self.key_id: self.cert_pem}

    def mint(self, email: str, audience: str, lifetime: int = 3600, **overrides: Any) -> str:
        issued = int(time.time())
        subject = str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": audience,
            "azp": subject,
            "sub": subject,
            "email": email,
            "email_verified": True,
            "iat": issued,
            "exp": issued + lifetime,
        }
        claims.update(overrides)
        return str(jwt.encode(self.signer, claims).decode())


class MetadataServer:
    def __init__(
        self,
        accounts: list[str],
        default: str | None,
        project: str,
        signers: dict[str, str] | None = None,
    ) -> None:
        """`signers`: when given, signBlob signs only as these accounts, and only for a
        caller presenting that account's bearer secret (Google's IAM checks the caller's
        signBlob permission; here a job process, which is given no secret, cannot sign
        as the worker to reach another run's objects)."""
        self.minter = TokenMinter()
        # The key signBlob signs with and the x509 endpoint publishes: the ID tokens'
        # until `rotate`, which replaces it as Google rotates an account's keys.
        self.blob_minter = self.minter
        self.accounts = accounts
        self.signers = signers
        # None: a process that does not say which account it runs as has none.
        self.default = default
        self.project = project

    def rotate(self) -> str:
        """A new signBlob key, and the old one no longer published: what Google does
        some time after it rotates an account's key. Returns the new key id."""
        self.blob_minter = TokenMinter()
        return self.blob_minter.key_id

    def _account(self, name: str, default: str | None) -> str | None:
        email = default if name == "default" else name
        return email if email in self.accounts else None

    def _as(self, path: str) -> tuple[str, str | None] | Response:
        """The path without its `/_local/as/{email}` prefix, and the account `default`
        stands for under it (an unknown account is a 404)."""
        if not path.startswith(AS_PREFIX):
            return path, self.default
        email, _, rest = path[len(AS_PREFIX) :].partition("/")
        if email not in self.accounts:
            return Response(f"unknown service account {email}", status=404, headers=FLAVOR)
        return "/" + rest, email

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        seen = self._as(request.path)
        if isinstance(seen, Response):
            return seen
        path, default = seen
        iam = self._iam(request)
        if iam is not None:
            return iam
        if path == "/oauth2/v1/certs":
            return Response(
                json.dumps(self.minter.certs()),
                mimetype="application/json",
                headers={"Cache-Control": "public, max-age=300"},
            )
        if path in ("/", ""):
            return Response("ok", headers=FLAVOR)
        if request.headers.get("Metadata-Flavor") != "Google":
            return Response("Missing Metadata-Flavor:Google header", status=403, headers=FLAVOR)
        prefix = "/computeMetadata/v1/"
        if path == prefix + "project/project-id":
            return Response(self.project, headers=FLAVOR)
        if path.startswith(prefix + "instance/service-accounts/"):
            parts = path[len(prefix + "instance/service-accounts/") :].strip("/").split("/")
            email = self._account(parts[0], default)
            if email is None:
                return Response(f"unknown service account {parts[0]}", status=404, headers=FLAVOR)
            tail = parts[1] if len(parts) > 1 else ""
            if tail == "identity":
                audience = request.args.get("audience")
                if not audience:
                    return Response("audience is required", status=400, headers=FLAVOR)
                return Response(self.minter.mint(email, audience), headers=FLAVOR)
            if tail == "email":
                return Response(email, headers=FLAVOR)
            if tail == "":
                info = {"email": email, "aliases": ["default"], "scopes": ["cloud-platform"]}
                return Response(json.dumps(info), mimetype="application/json", headers=FLAVOR)
        return Response("not found", status=404, headers=FLAVOR)

    def _iam(self, request: Request) -> Response | None:
        """IAM Credentials' signBlob, and the x509 certificates Google publishes for a
        service account's keys: what signed upload URLs need (shared/adapters/signing)."""
        path = request.path
        sign = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):signBlob", path)
        if sign and request.method == "POST":
            if sign.group(1) not in self.accounts:
                return _google_error(404, "NOT_FOUND", f"unknown service account {sign.group(1)}")
            if not self._may_sign(sign.group(1), request):
                return _google_error(
                    403, "PERMISSION_DENIED", f"iam.serviceAccounts.signBlob on {sign.group(1)}"
                )
            try:
                payload = base64.b64decode(json.loads(request.get_data())["payload"])
            except (ValueError, KeyError, TypeError):
                return _google_error(400, "INVALID_ARGUMENT", "payload must be base64")
            signed = base64.b64encode(self.blob_minter.signer.sign(payload)).decode()
            body = {"keyId": self.blob_minter.key_id, "signedBlob": signed}
            return Response(json.dumps(body), mimetype="application/json")
        certs = re.fullmatch(r"/service_accounts/v1/metadata/x509/([^/]+)", path)
        if certs:
            if certs.group(1) not in self.accounts:
                return _google_error(404, "NOT_FOUND", f"unknown service account {certs.group(1)}")
            return Response(json.dumps(self.blob_minter.certs()), mimetype="application/json")
        if path == "/_local/rotate" and request.method == "POST":
            return Response(json.dumps({"keyId": self.rotate()}), mimetype="application/json")
        return None

    def _may_sign(self, email: str, request: Request) -> bool:
        if self.signers is None:
            return True
        secret = self.signers.get(email)
        given = request.headers.get("Authorization", "")
        return secret is not None and hmac.compare_digest(given, f"Bearer {secret}")


def _google_error(status: int, reason: str, message: str) -> Response:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def main() -> None:
    from devstack.net import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--accounts", required=True, help="comma-separated service accounts")
    parser.add_argument(
        "--default", help="the account 'default' stands for outside /_local/as/{email}"
    )
    parser.add_argument("--project", default="assay-local")
    parser.add_argument(
        "--signer", action="append", default=[], help="EMAIL: may signBlob (secret from env)"
    )
    args = parser.parse_args()
    accounts = [a for a in args.accounts.split(",") if a]
    # Each signer's bearer secret comes from the environment, never the command line
    # (which any process of the machine may read in /proc).
    secret = os.environ.get("ASSAY_IAM_LOCAL_SECRET", "")
    signers = {email: secret for email in args.signer} if args.signer else None
    serve(MetadataServer(accounts, args.default, args.project, signers), args.port)


if __name__ == "__main__":
    main()


def fetch_token(metadata_url: str, email: str, audience: str, session: Any = None) -> str:
    """An ID token for `email` from a metadata server: what the local dispatcher and
    scheduler send, as Cloud Tasks and Cloud Scheduler sign theirs."""
    import requests

    response = (session or requests).get(
        f"{metadata_url.rstrip('/')}/computeMetadata/v1/instance/service-accounts/{email}/identity",
        params={"audience": audience, "format": "full"},
        headers={"Metadata-Flavor": "Google"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.text)
