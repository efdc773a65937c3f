"""Token verification against certificates served over HTTP by the local metadata
server, as the functions fetch Google's."""

import time

import pytest

from devstack.metadata_server import MetadataServer, TokenMinter
from shared.api.auth.id_tokens import verify_id_token
from shared.platform.errors import Forbidden, Unauthorized

AUDIENCE = "https://callback.example"
ALLOWED = {"validator@p.iam.gserviceaccount.com"}
EMAIL = "validator@p.iam.gserviceaccount.com"


@pytest.fixture
def metadata(serve):
    server = MetadataServer([EMAIL, "other@p.iam.gserviceaccount.com"], EMAIL, "p")
    http = serve(server)
    return server.minter, f"{http.url}/oauth2/v1/certs"


def verify(token, certs_url, audience=AUDIENCE):
    return verify_id_token(token, audience=audience, allowed_emails=ALLOWED, certs_url=certs_url)


def test_a_valid_token_passes(metadata):
    minter, certs = metadata
    caller = verify(minter.mint(EMAIL, AUDIENCE), certs)
    assert caller.email == EMAIL


def test_wrong_audience_is_rejected(metadata):
    minter, certs = metadata
    with pytest.raises(Unauthorized, match=r"audience|Audience"):
        verify(minter.mint(EMAIL, "https://elsewhere.example"), certs)


def test_expired_token_is_rejected(metadata):
    minter, certs = metadata
    past = int(time.time()) - 7200
    with pytest.raises(Unauthorized, match=r"expired|Expired"):
        verify(minter.mint(EMAIL, AUDIENCE, iat=past, exp=past + 3600), certs)


def test_token_signed_by_another_key_is_rejected(metadata):
    _, certs = metadata
    with pytest.raises(Unauthorized):
        verify(TokenMinter().mint(EMAIL, AUDIENCE), certs)


def test_token_signed_by_another_key_under_a_known_key_id_is_rejected(metadata):
    minter, certs = metadata
    forger = TokenMinter(key_id=minter.key_id)
    with pytest.raises(Unauthorized, match=r"signature|Signature"):
        verify(forger.mint(EMAIL, AUDIENCE), certs)


def test_wrong_issuer_is_rejected(metadata):
    minter, certs = metadata
    with pytest.raises(Unauthorized, match="issuer"):
        verify(minter.mint(EMAIL, AUDIENCE, iss="https://evil.example"), certs)


def test_unverified_email_is_rejected(metadata):
    minter, certs = metadata
    with pytest.raises(Unauthorized, match="not verified"):
        verify(minter.mint(EMAIL, AUDIENCE, email_verified=False), certs)


def test_service_account_not_on_the_list_is_rejected(metadata):
    minter, certs = metadata
    with pytest.raises(Forbidden, match="other@"):
        verify(minter.mint("other@p.iam.gserviceaccount.com", AUDIENCE), certs)


def test_a_token_that_is_not_a_jwt_is_rejected(metadata):
    _, certs = metadata
    with pytest.raises(Unauthorized):
        verify("not-a-token", certs)


def test_fetch_id_token_works_unchanged_against_the_metadata_server(metadata, serve, monkeypatch):
    """google-auth's own fetch_id_token, pointed at the stand-in, yields a token we accept."""
    _, certs = metadata
    host = certs.split("//")[1].split("/")[0]
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    import importlib

    from google.auth.compute_engine import _metadata

    importlib.reload(_metadata)  # it reads GCE_METADATA_HOST at import
    try:
        import google.auth.transport.requests
        from google.oauth2 import id_token

        token = id_token.fetch_id_token(google.auth.transport.requests.Request(), AUDIENCE)
        assert verify(token, certs).email == EMAIL
    finally:
        monkeypatch.undo()
        importlib.reload(_metadata)


def test_unknown_key_ids_refresh_the_certificates_at_most_once_a_minute(serve, monkeypatch):
    """Made-up key ids cannot be used to hammer the certificates endpoint."""
    from google.auth import crypt, jwt

    from shared.api.auth import id_tokens, key_cache

    server = MetadataServer([EMAIL], EMAIL, "p")
    fetches = []

    def counting(environ, start_response):
        if environ["PATH_INFO"].endswith("/certs"):
            fetches.append(time.monotonic())
        return server(environ, start_response)

    certs = f"{serve(counting).url}/oauth2/v1/certs"
    monkeypatch.setattr(id_tokens, "_CACHE", id_tokens.new_cache())
    clock = [1000.0]
    monkeypatch.setattr(key_cache.time, "monotonic", lambda: clock[0])
    assert verify(server.minter.mint(EMAIL, AUDIENCE), certs).email == EMAIL
    assert len(fetches) == 1

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for i in range(200):
        signer = crypt.RSASigner.from_string(pem, key_id=f"made-up-{i}")
        forged = jwt.encode(
            signer, {"iss": "https://accounts.google.com", "aud": AUDIENCE}
        ).decode()
        with pytest.raises(Unauthorized):
            verify(forged, certs)
    assert len(fetches) == 1  # fetched a moment ago: 200 unknown key ids, no refetch

    clock[0] += 30
    with pytest.raises(Unauthorized):
        verify(forged, certs)
    assert len(fetches) == 1  # still within the minute
    clock[0] += 31
    for _ in range(50):
        with pytest.raises(Unauthorized):
            verify(forged, certs)
    assert len(fetches) == 2  # a minute on: one refetch for all 50
    assert verify(server.minter.mint(EMAIL, AUDIENCE), certs).email == EMAIL
    assert len(fetches) == 2
