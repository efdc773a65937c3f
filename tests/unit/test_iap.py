"""IAP's signed header verified in code: keys made here, served as a JWK set over HTTP
as IAP serves its own, and every way an assertion can be wrong refused with a 401."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.auth import crypt, jwt
from google.auth.crypt import es
from pydantic import ValidationError
from werkzeug.wrappers import Response

from shared.api.auth.iap import ASSERTION_HEADER, IAP_ISSUER, person_from_headers
from shared.platform.config import Settings
from shared.platform.errors import Transient, Unauthorized

AUDIENCE = "/projects/123456789/global/backendServices/987654321"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(private) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Key:
    """A P-256 key of the test's, its JWK, and assertions it signs."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.signer = es.EsSigner.from_string(_pem(self.private), key_id=kid)

    def jwk(self) -> dict:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, **overrides) -> str:
        return jwt.encode(self.signer, claims(**overrides)).decode()


def claims(**overrides) -> dict:
    now = int(time.time())
    values = {
        "iss": IAP_ISSUER,
        "aud": AUDIENCE,
        "email": "Ada@Example.COM",
        "sub": "accounts.google.com:1234567890",
        "iat": now,
        "exp": now + 600,
    }
    return {k: v for k, v in (values | overrides).items() if v is not None}


def unsigned(header: dict, body: dict, signature: bytes = b"") -> str:
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(body).encode())]
    return ".".join([*parts, _b64(signature)])


class JwkServer:
    """Serves whichever keys it holds now (so a test can rotate them)."""

    def __init__(self, keys: list[Key]) -> None:
        self.keys = keys
        self.fetches = 0

    def __call__(self, environ, start_response):
        self.fetches += 1
        body = json.dumps({"keys": [k.jwk() for k in self.keys]})
        return Response(body, mimetype="application/json")(environ, start_response)


@pytest.fixture
def iap(serve):
    key = Key("key-1")
    server = JwkServer([key])
    url = f"{serve(server).url}/iap/verify/public_key-jwk"
    return key, server, url


def person(token: str, url: str, audience: str = AUDIENCE):
    return person_from_headers({ASSERTION_HEADER: token}, audience=audience, certs_url=url)


def test_a_valid_assertion_names_the_person_with_the_email_lower_cased(iap):
    key, _, url = iap
    signed_in = person(key.sign(), url)
    assert signed_in.email == "ada@example.com"
    assert signed_in.subject == "accounts.google.com:1234567890"


def test_the_header_is_found_whatever_its_case(iap):
    key, _, url = iap
    headers = {"X-Goog-IAP-JWT-Assertion": key.sign()}
    assert person_from_headers(headers, audience=AUDIENCE, certs_url=url).email == "ada@example.com"


def test_the_plain_identity_headers_alone_are_refused(iap):
    _, server, url = iap
    plain = {
        "x-goog-authenticated-user-email": "accounts.google.com:ada@example.com",
        "x-goog-authenticated-user-id": "accounts.google.com:1234567890",
    }
    with pytest.raises(Unauthorized, match="Identity-Aware Proxy"):
        person_from_headers(plain, audience=AUDIENCE, certs_url=url)
    assert server.fetches == 0


def test_plain_headers_never_override_the_signed_email(iap):
    key, _, url = iap
    headers = {
        ASSERTION_HEADER: key.sign(email="bob@example.com"),
        "x-goog-authenticated-user-email": "accounts.google.com:admin@example.com",
    }
    assert person_from_headers(headers, audience=AUDIENCE, certs_url=url).email == "bob@example.com"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"aud": "/projects/123456789/global/backendServices/1"}, "audience"),
        ({"aud": "/projects/123456789/apps/another"}, "audience"),
        ({"iss": "https://accounts.google.com"}, "issuer"),
        ({"iat": int(time.time()) - 4000, "exp": int(time.time()) - 3400}, "expired"),
        ({"iat": int(time.time()) + 600, "exp": int(time.time()) + 1200}, "early"),
        ({"exp": None}, "exp"),
        ({"email": None}, "email"),
        ({"sub": None}, "subject"),
    ],
)
def test_a_wrong_claim_is_refused(iap, overrides, match):
    key, _, url = iap
    with pytest.raises(Unauthorized, match=match):
        person(key.sign(**overrides), url)


def test_an_assertion_signed_by_another_key_under_the_same_id_is_refused(iap):
    _, _, url = iap
    forger = Key("key-1")
    with pytest.raises(Unauthorized, match="signature"):
        person(forger.sign(), url)


def test_an_unknown_key_id_is_refused_without_a_fetch_each_time(iap):
    key, server, url = iap
    person(key.sign(), url)
    before = server.fetches
    for _ in range(3):
        with pytest.raises(Unauthorized, match="unknown key"):
            person(Key("key-9").sign(), url)
    # Made-up key ids cannot turn into a stream of requests for the keys.
    assert server.fetches == before


def test_a_rotated_key_is_fetched_when_an_assertion_names_it(iap):
    _, server, url = iap
    # The first fetch finds no key-2; IAP then publishes it.
    with pytest.raises(Unauthorized, match="unknown key"):
        person(Key("key-2").sign(), url)
    server.keys = [Key("key-1"), rotated := Key("key-2")]
    # Within the minute the refusal stands (IAP's keys change far less often than that).
    with pytest.raises(Unauthorized, match="unknown key"):
        person(rotated.sign(), url)
    from shared.api.auth import iap as module

    fetched, keys = module._CACHE._keys[url]
    module._CACHE._keys[url] = (fetched - 61, keys)
    assert person(rotated.sign(), url).email == "ada@example.com"


def test_alg_none_is_refused(iap):
    key, _, url = iap
    token = unsigned({"alg": "none", "kid": key.kid, "typ": "JWT"}, claims())
    with pytest.raises(Unauthorized, match="not ES256"):
        person(token, url)


def test_hs256_keyed_with_the_public_key_is_refused(iap):
    key, _, url = iap
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims()).encode())}"
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized, match="not ES256"):
        person(f"{signing_input}.{_b64(mac)}", url)


def test_rs256_is_refused(iap):
    key, _, url = iap
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = crypt.RSASigner.from_string(_pem(rsa_key), key_id=key.kid)
    with pytest.raises(Unauthorized, match="not ES256"):
        person(jwt.encode(signer, claims()).decode(), url)


def test_an_assertion_naming_no_key_is_refused(iap):
    key, _, url = iap
    token = jwt.encode(es.EsSigner(key.private), claims()).decode()
    with pytest.raises(Unauthorized, match="names no key"):
        person(token, url)


def test_garbage_is_refused(iap):
    _, _, url = iap
    with pytest.raises(Unauthorized, match="not a JWT"):
        person("not-a-jwt", url)


def test_without_a_configured_audience_nobody_is_let_in(iap):
    key, _, url = iap
    with pytest.raises(Unauthorized, match="ASSAY_IAP_AUDIENCE"):
        person(key.sign(), url, audience="")


def test_keys_that_cannot_be_fetched_are_transient(serve):
    def broken(environ, start_response):
        return Response("down", status=503)(environ, start_response)

    url = f"{serve(broken).url}/jwk"
    with pytest.raises(Transient, match="IAP's public keys"):
        person(Key("key-1").sign(), url)


def test_the_settings_name_the_audience_and_keys(iap, monkeypatch):
    key, _, url = iap
    from shared.platform import config

    monkeypatch.setenv("ASSAY_IAP_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("ASSAY_IAP_CERTS_URL", url)
    config.get_settings.cache_clear()
    try:
        assert person_from_headers({ASSERTION_HEADER: key.sign()}).email == "ada@example.com"
    finally:
        config.get_settings.cache_clear()


def test_an_audience_of_another_shape_is_a_configuration_error():
    assert Settings(iap_audience="/projects/1/apps/my-project").iap_audience
    with pytest.raises(ValidationError, match="ASSAY_IAP_AUDIENCE"):
        Settings(iap_audience="https://console.example.com")


def test_on_google_cloud_the_keys_are_iaps(monkeypatch):
    monkeypatch.setenv("K_SERVICE", "console")
    with pytest.raises(ValidationError, match="ASSAY_IAP_CERTS_URL is not IAP's"):
        Settings(iap_certs_url="http://127.0.0.1:9/jwk")
