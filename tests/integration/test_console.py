"""The console's frame: sign-in through IAP's assertion only, membership as the only
way into an org, roles, CSRF on every change, and the headers that keep pages safe."""

from __future__ import annotations

import io

import pytest

from shared.domain.enums import Role
from shared.services import members
from tests.factories import make_org
from tests.integration.console_harness import ADMIN, STRANGER, VIEWER, ConsoleHarness


def test_without_the_assertion_nobody_is_let_in(console: ConsoleHarness) -> None:
    plain = {"X-Goog-Authenticated-User-Email": f"accounts.google.com:{ADMIN}"}
    answer = console.get("/", email=None, headers=plain)
    assert answer.status_code == 401
    assert "Identity-Aware Proxy" in answer.get_data(as_text=True)


def test_an_assertion_for_another_audience_is_refused(console: ConsoleHarness) -> None:
    token = console.minter.mint(ADMIN, aud="/projects/1/global/backendServices/2")
    answer = console.client.get("/", headers={"x-goog-iap-jwt-assertion": token})
    assert answer.status_code == 401


def test_a_person_sees_only_the_orgs_they_belong_to(console: ConsoleHarness) -> None:
    other, _ = make_org(console.repos, "other")
    members.add_member(console.repos, other, STRANGER, Role.VIEWER)
    page = console.get("/", email=ADMIN).get_data(as_text=True)
    assert console.org in page and other not in page
    assert other in console.get("/", email=STRANGER).get_data(as_text=True)


def test_a_non_member_gets_404_for_the_org_and_anything_in_it(console: ConsoleHarness) -> None:
    for path in (f"/orgs/{console.org}", f"/orgs/{console.org}/runs"):
        answer = console.get(path, email=STRANGER)
        assert answer.status_code == 404
        assert "does not exist or you are not a member" in answer.get_data(as_text=True)


def test_the_runs_page_lists_the_orgs_runs(console: ConsoleHarness) -> None:
    answer = console.get(f"/orgs/{console.org}/runs", email=VIEWER)
    assert answer.status_code == 200
    assert "No runs" in answer.get_data(as_text=True)


def test_a_bad_filter_is_a_clear_400_page(console: ConsoleHarness) -> None:
    answer = console.get(f"/orgs/{console.org}/runs?status=DONE", email=VIEWER)
    assert answer.status_code == 400
    assert "status must be one of" in answer.get_data(as_text=True)


def test_pages_carry_a_strict_policy_and_a_csrf_cookie(console: ConsoleHarness) -> None:
    answer = console.get("/", email=ADMIN)
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["Cache-Control"] == "no-store"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("assay_csrf=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_a_change_without_the_csrf_token_is_refused(console: ConsoleHarness) -> None:
    # Any POST route: the check comes before the page, so the route need not accept it.
    headers = console.headers(ADMIN)
    answer = console.client.post(f"/orgs/{console.org}/runs", headers=headers, data={"x": "1"})
    assert answer.status_code == 403
    assert "CSRF" in answer.get_data(as_text=True)


def test_a_cross_site_request_is_refused_even_with_the_token(console: ConsoleHarness) -> None:
    answer = console.post(
        f"/orgs/{console.org}/runs", email=ADMIN, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403


def test_static_files_are_served_and_nothing_outside_them(console: ConsoleHarness) -> None:
    assert console.client.get("/assets/console.css").status_code == 200
    assert console.client.get("/assets/../app.py").status_code == 404
    assert console.client.get("/assets/%2e%2e/app.py").status_code == 404


def test_health_needs_no_sign_in(console: ConsoleHarness) -> None:
    assert console.client.get("/healthz").status_code == 200


def test_a_form_too_large_or_of_no_length_is_refused_before_it_is_parsed(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import wiring

    monkeypatch.setenv("ASSAY_MAX_UPLOAD_BYTES", "1000")
    wiring.reset()

    console.client.set_cookie("assay_csrf", "t" * 43)
    # No Content-Length: a chunked body, which the frame must bound all the same.
    headers = {
        **console.headers(ADMIN),
        "Content-Type": "application/x-www-form-urlencoded",
        "Transfer-Encoding": "chunked",
    }
    body = io.BytesIO(b"x" * 200_000)
    # As gunicorn (Cloud Run's server) says of a chunked body it has de-chunked.
    answer = console.client.post(
        f"/orgs/{console.org}/submit",
        headers=headers,
        input_stream=body,
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert answer.status_code == 411
    assert "Content-Length" in answer.get_data(as_text=True)
    declared = {**headers, "Content-Length": "200000"}
    del declared["Transfer-Encoding"]
    body = io.BytesIO(b"x" * 200_000)
    answer = console.client.post(f"/orgs/{console.org}/submit", headers=declared, input_stream=body)
    assert answer.status_code == 413
    assert "at most" in answer.get_data(as_text=True)
