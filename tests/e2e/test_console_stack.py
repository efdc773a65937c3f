"""The console on the local stack as people reach it: through the identity stand-in
(devstack/identity.py, IAP's part) at ASSAY_CONSOLE_URL, never straight to the function,
which refuses whatever arrives without the stand-in's signed assertion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import requests

from devstack.identity import JWK_PATH, LOCAL_AUDIENCE, AssertionMinter
from shared.domain.enums import Role
from tests.e2e.conftest import ROOT, LocalStack

pytestmark = pytest.mark.e2e


def _signed_in(stack: LocalStack, email: str) -> requests.Session:
    browser = requests.Session()
    answer = browser.get(
        f"{stack.env['ASSAY_CONSOLE_URL']}/_dev/sign-in", params={"email": email}, timeout=10
    )
    # Followed to the console's own first page, which knows the person.
    assert answer.status_code == 200, answer.text
    assert email in answer.text
    return browser


def test_stack_env_points_people_at_the_stand_in_and_the_console_at_its_keys(stack):
    env = stack.env
    console, function = env["ASSAY_CONSOLE_URL"], env["ASSAY_CONSOLE_FUNCTION_URL"]
    assert urlsplit(console).netloc != urlsplit(function).netloc
    assert env["ASSAY_IAP_AUDIENCE"] == LOCAL_AUDIENCE
    assert env["ASSAY_IAP_CERTS_URL"] == console + JWK_PATH
    keys = requests.get(env["ASSAY_IAP_CERTS_URL"], timeout=10).json()["keys"]
    assert [k["alg"] for k in keys] == ["ES256"]
    text = (stack.state / "stack.env").read_text()
    assert f"ASSAY_CONSOLE_URL={console}\n" in text


def test_a_signed_in_person_reaches_the_console_through_the_stand_in(stack):
    console = stack.env["ASSAY_CONSOLE_URL"]
    stranger = requests.get(console + "/", timeout=10)
    assert stranger.status_code == 401 and "/_dev/sign-in" in stranger.text
    browser = _signed_in(stack, "ada@example.com")
    home = browser.get(console + "/", timeout=10)
    assert home.status_code == 200
    assert home.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in home.headers["Content-Security-Policy"]
    assert browser.get(console + "/healthz", timeout=10).json() == {"status": "ok"}


def test_membership_decides_which_orgs_a_person_sees(stack):
    from shared import wiring
    from shared.services.members import add_member
    from tests.factories import make_org

    repos = wiring.repositories()
    org, _ = make_org(repos, "console-e2e")
    add_member(repos, org, "grace@example.com", Role.VIEWER)
    runs = f"{stack.env['ASSAY_CONSOLE_URL']}/orgs/{org}/runs"
    assert _signed_in(stack, "grace@example.com").get(runs, timeout=10).status_code == 200
    assert _signed_in(stack, "eve@example.com").get(runs, timeout=10).status_code == 404


def test_straight_to_the_function_nothing_but_health_is_answered(stack):
    function = stack.env["ASSAY_CONSOLE_FUNCTION_URL"]
    assert requests.get(function + "/healthz", timeout=10).status_code == 200
    claims = {
        "plain IAP headers": {"x-goog-authenticated-user-email": "accounts.google.com:a@x.com"},
        "another key's assertion": {
            "x-goog-iap-jwt-assertion": AssertionMinter().mint("ada@example.com")
        },
        "nothing": {},
    }
    for what, headers in claims.items():
        answer = requests.get(function + "/", headers=headers, timeout=10)
        assert answer.status_code == 401, what


def test_the_demo_ends_with_a_console_link_that_signs_its_admin_in(tmp_path):
    env = {**os.environ, "ASSAY_LOCAL_DIR": str(tmp_path), "ASSAY_DEMO_KEEP": "1"}
    for key in [k for k in env if k.startswith(("ASSAY_API", "ASSAY_CONSOLE", "FIRESTORE"))]:
        env.pop(key)
    demo = subprocess.Popen(
        [sys.executable, "-m", "devstack.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Sign in as the demo org's admin: "):
                break
        else:
            raise AssertionError("".join(lines))
        org = next(x for x in lines if x.startswith("Created organization ")).split()[2]
        link = line.split(": ", 1)[1].strip()
        assert link.endswith("/_dev/sign-in?email=demo@example.com")
        browser = requests.Session()
        home = browser.get(link, timeout=10)
        assert home.status_code == 200
        # The demo org on the person's list of orgs, and its runs page open to them.
        assert f'href="/orgs/{org}/runs"' in home.text
        runs = browser.get(f"{link.split('/_dev/')[0]}/orgs/{org}/runs", timeout=10)
        assert runs.status_code == 200
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=60)
    assert demo.returncode == 0
