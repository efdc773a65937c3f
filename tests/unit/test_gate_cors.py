"""The signed-URL gate answers a browser's CORS preflight as a bucket whose CORS
configuration lists the console does, and only for that origin."""

from werkzeug.test import Client

from devstack.signed_url_gate import SignedUrlGate

CONSOLE = "http://127.0.0.1:8123"


def _gate(tmp_path):
    root = (tmp_path / "uploads").as_uri()
    return Client(SignedUrlGate({"uploads": root}, "http://127.0.0.1:9", cors_origins=(CONSOLE,)))


def test_the_consoles_preflight_is_allowed_with_the_headers_it_asks_for(tmp_path):
    asked = "content-type,x-goog-content-length-range,x-goog-meta-org"
    answer = _gate(tmp_path).options(
        "/uploads/a/b",
        headers={
            "Origin": CONSOLE,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert answer.headers["Access-Control-Allow-Methods"] == "PUT"
    assert answer.headers["Access-Control-Allow-Headers"] == asked


def test_another_origin_gets_no_cors_headers(tmp_path):
    answer = _gate(tmp_path).options(
        "/uploads/a/b",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert answer.status_code == 405


def test_a_refused_put_from_the_console_is_readable_by_its_page(tmp_path):
    # Unsigned and without credentials: refused, but the page can read why.
    answer = _gate(tmp_path).put("/uploads/a/b?X-Goog-Signature=00", headers={"Origin": CONSOLE})
    assert answer.status_code >= 400
    assert answer.headers["Access-Control-Allow-Origin"] == CONSOLE
