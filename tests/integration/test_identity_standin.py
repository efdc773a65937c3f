"""The local IAP stand-in in front of an app that verifies its header as the console
will (shared/api/auth/iap.py, against the stand-in's JWK set over HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from devstack.identity import (
    JWK_PATH,
    LOCAL_AUDIENCE,
    SESSION_COOKIE,
    SIGN_IN_PATH,
    IdentityStandIn,
)
from devstack.net import free_port, wait_http
from shared.api.auth.iap import person_from_headers
from shared.platform.errors import Unauthorized


class Console:
    """A stand-in for the console: who the assertion says, and what else arrived."""

    def __init__(self) -> None:
        self.certs_url = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/elsewhere":
            response = Response(status=302, headers={"Location": f"{request.host_url}runs"})
            return response(environ, start_response)
        if request.path == "/set-cookie":
            response = Response("set")
            response.set_cookie("console_csrf", request.args["value"], httponly=True)
            return response(environ, start_response)
        try:
            person = person_from_headers(
                request.headers, audience=LOCAL_AUDIENCE, certs_url=self.certs_url
            )
        except Unauthorized as exc:
            return Response(exc.detail, status=401)(environ, start_response)
        seen = {
            "email": person.email,
            "subject": person.subject,
            "path": request.full_path,
            "body": request.get_data(as_text=True),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "cookies": dict(request.cookies),
        }
        return Response(json.dumps(seen), mimetype="application/json")(environ, start_response)


@pytest.fixture
def stack(serve: Any) -> tuple[Console, str]:
    console = Console()
    target = serve(console)
    standin = serve(IdentityStandIn(target.url))
    console.certs_url = f"{standin.url}{JWK_PATH}"
    return console, standin.url


def signed_in(url: str, email: str = "Ada@Example.com") -> requests.Session:
    browser = requests.Session()
    answer = browser.get(f"{url}{SIGN_IN_PATH}", params={"email": email}, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return browser


def test_sign_in_then_every_request_carries_an_assertion_the_console_verifies(stack):
    _, url = stack
    browser = signed_in(url)
    seen = browser.get(f"{url}/", allow_redirects=True).json()
    assert seen["email"] == "ada@example.com"
    assert seen["subject"].startswith("accounts.google.com:")
    deeper = browser.get(f"{url}/runs/r-1", params={"status": "done"}).json()
    assert deeper["path"] == "/runs/r-1?status=done"


def test_plain_identity_headers_and_a_forged_assertion_are_stripped(stack):
    _, url = stack
    browser = signed_in(url, "viewer@example.com")
    sent = {
        "x-goog-authenticated-user-email": "accounts.google.com:admin@example.com",
        "x-goog-authenticated-user-id": "accounts.google.com:1",
        "x-goog-iap-jwt-assertion": "forged.by.client",
    }
    seen = browser.get(f"{url}/settings", headers=sent).json()
    assert seen["email"] == "viewer@example.com"
    assert not any(h.startswith("x-goog-authenticated-user-") for h in seen["headers"])
    assert seen["headers"]["x-goog-iap-jwt-assertion"] != "forged.by.client"


def test_the_session_cookie_stays_with_the_stand_in(stack):
    _, url = stack
    browser = signed_in(url)
    seen = browser.post(
        f"{url}/submit", data={"workflow": "w"}, cookies={"console_csrf": "abc"}
    ).json()
    assert seen["cookies"] == {"console_csrf": "abc"}
    assert SESSION_COOKIE not in seen["headers"].get("cookie", "")
    assert seen["body"] == "workflow=w"


def test_the_consoles_cookies_reach_one_browser_and_no_other(stack):
    _, url = stack
    ada, bob = signed_in(url), signed_in(url, "bob@example.com")
    answer = ada.get(f"{url}/set-cookie", params={"value": "ada-token"})
    assert answer.text == "set" and ada.cookies.get("console_csrf") == "ada-token"
    seen = bob.get(f"{url}/runs").json()
    assert seen["email"] == "bob@example.com" and seen["cookies"] == {}


def test_without_a_session_the_answer_is_401_with_a_link_to_sign_in(stack):
    _, url = stack
    answer = requests.get(f"{url}/runs", allow_redirects=False)
    assert answer.status_code == 401
    assert SIGN_IN_PATH in answer.text and answer.headers["Content-Type"].startswith("text/html")
    forged = requests.get(f"{url}/runs", cookies={SESSION_COOKIE: "ada@example.com.9999999999.x"})
    assert forged.status_code == 401


def test_the_plain_headers_straight_to_the_console_are_refused(stack):
    console, _ = stack
    # What reaches the console without passing the proxy.
    headers = {"x-goog-authenticated-user-email": "accounts.google.com:admin@example.com"}
    with pytest.raises(Unauthorized):
        person_from_headers(headers, audience=LOCAL_AUDIENCE, certs_url=console.certs_url)


def test_a_redirect_to_the_console_itself_points_at_the_stand_in(stack):
    _, url = stack
    answer = signed_in(url).get(f"{url}/elsewhere", allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/runs"


def test_not_an_email_is_refused(stack):
    _, url = stack
    answer = requests.get(f"{url}{SIGN_IN_PATH}", params={"email": "<script>"})
    assert answer.status_code == 400 and "<script>" not in answer.text


def test_the_stand_in_runs_as_its_own_process(serve):
    console = Console()
    target = serve(console)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.identity", "--port", str(port), "--target", target.url]
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}{JWK_PATH}", timeout=30, process=process)
        console.certs_url = f"{url}{JWK_PATH}"
        assert signed_in(url).get(f"{url}/").json()["email"] == "ada@example.com"
    finally:
        process.terminate()
        process.wait(timeout=10)
