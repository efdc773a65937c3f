"""A local stand-in for Identity-Aware Proxy in front of the console.

It plays what IAP does for a signed-in browser: every request is forwarded to the
target with `x-goog-iap-jwt-assertion`, an ES256 JWT shaped like IAP's (issuer
https://cloud.google.com/iap, the configured audience, the person's email and a
`accounts.google.com:` subject), signed with its own P-256 key, whose JWK set it serves
at JWK_PATH as IAP serves its keys (point ASSAY_IAP_CERTS_URL there). Identity headers a
client sends itself (the assertion, the plain `x-goog-authenticated-user-*` headers) are
dropped on the way, as IAP drops them.

Signing in is a page of the stand-in only (it does not exist in a deployment, where IAP
sends the browser to Google's sign-in): `GET /_dev/sign-in?email=EMAIL` sets a signed
session cookie and redirects to `/`. Without a session every request is answered 401
with a page linking there.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import jwt
from google.auth.crypt import es
from werkzeug.wrappers import Request, Response

ISSUER = "https://cloud.google.com/iap"
# The shape of a backend service's audience; the numbers are this stand-in's own.
LOCAL_AUDIENCE = "/projects/000000000000/global/backendServices/0000000000000000000"
JWK_PATH = "/_dev/iap/public_key-jwk"
SIGN_IN_PATH = "/_dev/sign-in"
SIGN_OUT_PATH = "/_dev/sign-out"
SESSION_COOKIE = "assay_dev_iap"
SESSION_SECONDS = 12 * 3600
ASSERTION_SECONDS = 600
EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")
# Never forwarded either way (RFC 9110's hop-by-hop headers).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set anew for the target by the HTTP client, or by the stand-in itself.
REQUEST_ONLY = frozenset({"host", "content-length", "cookie"})
# Never forwarded to the target: any identity a client claims for itself.
IDENTITY_PREFIXES = ("x-goog-iap-", "x-goog-authenticated-user-")
CHUNK = 64 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AssertionMinter:
    """A P-256 key, signing IAP-shaped assertions and publishing itself as a JWK set."""

    def __init__(self, audience: str = LOCAL_AUDIENCE, key_id: str | None = None) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        self.audience = audience
        self._x = _b64(numbers.x.to_bytes(32, "big"))
        self._y = _b64(numbers.y.to_bytes(32, "big"))
        self.key_id = key_id or hashlib.sha256(f"{self._x}.{self._y}".encode()).hexdigest()[:16]
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.signer = es.EsSigner.from_string(private, key_id=self.key_id)

    def jwks(self) -> dict[str, Any]:
        key = {"kty": "EC", "crv": "P-256", "x": self._x, "y": self._y}
        return {"keys": [key | {"kid": self.key_id, "alg": "ES256", "use": "sig"}]}

    def mint(self, email: str, lifetime: int = ASSERTION_SECONDS, **overrides: Any) -> str:
        issued = int(time.time())
        digits = int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": self.audience,
            "email": email,
            "sub": f"accounts.google.com:{digits}",
            "iat": issued,
            "exp": issued + lifetime,
        }
        claims.update(overrides)
        token: bytes = jwt.encode(self.signer, claims)
        return token.decode()


class Sessions:
    """Signed-in browsers: a cookie holding the email and an expiry, with an HMAC under
    a key that lives as long as the process (a restart signs everyone out)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, email: str) -> str:
        payload = f"{_b64(email.encode())}.{int(time.time()) + SESSION_SECONDS}"
        return f"{payload}.{self._mac(payload)}"

    def email(self, cookie: str | None) -> str | None:
        encoded, _, rest = (cookie or "").partition(".")
        expires, _, mac = rest.partition(".")
        payload = f"{encoded}.{expires}"
        if not (mac and hmac.compare_digest(mac, self._mac(payload))):
            return None
        if not expires.isdigit() or int(expires) < time.time():
            return None
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def _page(title: str, body: str, status: int) -> Response:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        f"{body}</main></body></html>"
    )
    return Response(text, status=status, mimetype="text/html")


class IdentityStandIn:
    """The WSGI app: sign-in, the JWK set, and the forwarding proxy."""

    def __init__(
        self,
        target: str,
        minter: AssertionMinter | None = None,
        sessions: Sessions | None = None,
    ) -> None:
        self.target = target.rstrip("/")
        self.minter = minter or AssertionMinter()
        self.sessions = sessions or Sessions()
        self._http = requests.Session()
        # One client for every browser: it must keep no cookie of one for another.
        self._http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == JWK_PATH:
            return Response(json.dumps(self.minter.jwks()), mimetype="application/json")
        if request.path == SIGN_IN_PATH:
            return self._sign_in(request)
        if request.path == SIGN_OUT_PATH:
            response = Response(status=302, headers={"Location": "/"})
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
            return response
        email = self.sessions.email(request.cookies.get(SESSION_COOKIE))
        if email is None:
            link = f'<a href="{SIGN_IN_PATH}?email=you%40example.com">{SIGN_IN_PATH}?email=…</a>'
            return _page("Sign in", f"<p>Not signed in. Sign in at {link}.</p>", 401)
        return self._forward(request, email)

    def _sign_in(self, request: Request) -> Response:
        email = request.args.get("email", "").strip().lower()
        if not EMAIL.fullmatch(email):
            body = f"<p>Sign in with <code>{SIGN_IN_PATH}?email=EMAIL</code>.</p>"
            return _page("Not an email address", body, 400)
        response = Response(status=302, headers={"Location": "/"})
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(email),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="Lax",
        )
        return response

    def _headers(self, request: Request, email: str) -> dict[str, str]:
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in HOP_BY_HOP | REQUEST_ONLY
            and not key.lower().startswith(IDENTITY_PREFIXES)
        }
        # The session is the stand-in's own, as IAP's cookie is IAP's: the console
        # sees only its own cookies.
        pairs = [p.strip() for line in request.headers.getlist("Cookie") for p in line.split(";")]
        kept = "; ".join(p for p in pairs if p and not p.startswith(SESSION_COOKIE + "="))
        if kept:
            headers["Cookie"] = kept
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-For"] = request.remote_addr or ""
        headers["x-goog-iap-jwt-assertion"] = self.minter.mint(email)
        return headers

    def _forward(self, request: Request, email: str) -> Response:
        url = self.target + quote(request.path, safe="/%:@!$&'()*+,;=-._~")
        if request.query_string:
            url += "?" + request.query_string.decode("latin-1")
        try:
            upstream = self._http.request(
                request.method,
                url,
                headers=self._headers(request, email),
                # Whole: the console takes forms and small files (large ones go to the
                # uploads bucket by signed URL), and a length keeps the upload unchunked.
                data=request.get_data() or None,
                allow_redirects=False,
                stream=True,
                timeout=60,
            )
        except requests.RequestException as exc:
            return _page("Bad gateway", f"<p>{html.escape(str(exc))}</p>", 502)
        headers = [
            (key, self._location(value) if key.lower() == "location" else value)
            for key, value in upstream.raw.headers.items()
            if key.lower() not in HOP_BY_HOP
        ]
        return Response(
            _body(upstream), status=upstream.status_code, headers=headers, direct_passthrough=True
        )

    def _location(self, value: str) -> str:
        """A redirect to the target itself points at the stand-in instead."""
        if value.startswith(self.target):
            return value[len(self.target) :] or "/"
        return value


def _body(upstream: requests.Response) -> Iterator[bytes]:
    try:
        # As sent: a compressed body stays compressed, with its Content-Encoding.
        yield from upstream.raw.stream(CHUNK, decode_content=False)
    finally:
        upstream.close()


def main() -> None:
    from devstack.net import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the URL of the app behind IAP")
    parser.add_argument("--audience", default=LOCAL_AUDIENCE, help="the assertions' aud")
    args = parser.parse_args()
    serve(IdentityStandIn(args.target, AssertionMinter(args.audience)), args.port)


if __name__ == "__main__":
    main()
