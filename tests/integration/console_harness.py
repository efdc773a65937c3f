"""The console function under test: a Flask test client, people signed in with IAP
assertions minted by the local IAP stand-in's minter (its keys served over HTTP, as
IAP serves its own), and an org with a member of each role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from functions_framework import create_app
from werkzeug.wrappers import Response

from devstack.identity import AssertionMinter
from shared.api.auth.iap import ASSERTION_HEADER
from shared.domain.enums import Role
from shared.services import members
from tests.factories import make_org

CSRF = "t" * 43
EMAILS = {role: f"{role.value}@example.com" for role in Role}
ADMIN, AUTHOR = EMAILS[Role.ADMIN], EMAILS[Role.AUTHOR]
SUBMITTER, VIEWER = EMAILS[Role.SUBMITTER], EMAILS[Role.VIEWER]
STRANGER = "stranger@example.com"


@dataclass
class ConsoleHarness:
    client: Any
    repos: Any
    org: str
    key: str
    minter: AssertionMinter
    seen: list[Any] = field(default_factory=list)

    def headers(self, email: str | None, **extra: str) -> dict[str, str]:
        signed = {ASSERTION_HEADER: self.minter.mint(email)} if email else {}
        return {**signed, **extra}

    def get(self, path: str, email: str | None = ADMIN, **kwargs: Any) -> Any:
        headers = self.headers(email, **kwargs.pop("headers", {}))
        return self.client.get(path, headers=headers, **kwargs)

    def post(
        self, path: str, email: str | None = ADMIN, data: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        """A form POST from the console's own page: with the CSRF cookie and field."""
        self.client.set_cookie("assay_csrf", CSRF)
        fields = {"csrf": CSRF, **(data or {})}
        headers = self.headers(email, **kw.pop("headers", {}))
        return self.client.post(path, headers=headers, data=fields, **kw)


def _jwks(minter: AssertionMinter) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        import json

        body = json.dumps(minter.jwks())
        return Response(body, mimetype="application/json")(environ, start_response)

    return app


@pytest.fixture
def console(repos: Any, serve: Any, monkeypatch: pytest.MonkeyPatch) -> ConsoleHarness:
    from shared import wiring
    from shared.api.auth import iap

    minter = AssertionMinter()
    certs = serve(_jwks(minter)).url + "/_dev/iap/public_key-jwk"
    monkeypatch.setenv("ASSAY_IAP_AUDIENCE", minter.audience)
    monkeypatch.setenv("ASSAY_IAP_CERTS_URL", certs)
    monkeypatch.setattr(iap, "_CACHE", iap.KeyCache(iap._parse, "IAP's public keys"))
    wiring.reset()
    repos = wiring.repositories()
    org, key = make_org(repos)
    for role, email in EMAILS.items():
        members.add_member(repos, org, email, role)
    client = create_app(target="console", source="functions/main.py").test_client()
    return ConsoleHarness(client, repos, org, key, minter)
