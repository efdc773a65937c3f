"""Where a webhook may point (shared/adapters/webhook_http.py, decision record 0087), the
signature a receiver checks, a rotation's overlap, and a deployment's refusal of the
local stack's leave to call loopback URLs."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.adapters import webhook_http
from shared.adapters.webhook_http import RefusedUrl, check
from shared.domain.webhooks import Webhook, WebhookSecret, signature_header
from shared.platform.clock import utcnow
from shared.platform.config import Settings
from tests.unit.test_config import CLOUD


def _resolves(*addresses: str) -> webhook_http.Resolver:
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.100.100.200", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("239.1.1.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("192.0.2.1", "private"),  # documentation range: not reachable, not public
    ],
)
def test_a_name_resolving_to_an_unsafe_address_is_refused(address: str, why: str) -> None:
    with pytest.raises(RefusedUrl, match=why):
        check("https://hooks.example.com/x", allow_loopback=False, resolve=_resolves(address))


def test_every_address_a_name_resolves_to_must_be_public() -> None:
    resolve = _resolves("93.184.216.34", "10.0.0.1")
    with pytest.raises(RefusedUrl, match="private"):
        check("https://hooks.example.com/x", allow_loopback=False, resolve=resolve)


def test_a_public_https_url_is_pinned_to_the_address_checked() -> None:
    target = check(
        "https://Hooks.Example.com:8443/in?x=1",
        allow_loopback=False,
        resolve=_resolves("93.184.216.34"),
    )
    assert (target.host, target.port, target.path, target.address) == (
        "hooks.example.com",
        8443,
        "/in?x=1",
        "93.184.216.34",
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "https"),
        ("https://metadata.google.internal/", "metadata"),
        ("https://metadata/", "metadata"),
        ("https://user:pw@hooks.example.com/", "no user"),
        ("https:///nohost", "needs a host"),
    ],
)
def test_the_url_itself_is_refused(url: str, why: str) -> None:
    with pytest.raises(RefusedUrl, match=why):
        check(url, allow_loopback=False, resolve=_resolves("93.184.216.34"))


def test_the_local_stack_may_call_loopback_but_nothing_private() -> None:
    check("http://127.0.0.1:9000/hook", allow_loopback=True, resolve=_resolves("127.0.0.1"))
    with pytest.raises(RefusedUrl, match="private"):
        check("http://10.0.0.1/hook", allow_loopback=True, resolve=_resolves("10.0.0.1"))


def test_the_signature_is_hmac_sha256_of_time_dot_body() -> None:
    header = signature_header(["s3cret"], 1700000000, b'{"a":1}')
    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_rotated_out_secret_signs_for_a_day_then_stops() -> None:
    now = utcnow()
    hook = Webhook(
        id="a" * 20,
        org_id="o",
        url="https://x.example",
        events=["run.completed"],
        created_at=now,
        created_by="key:k",
        secrets=[WebhookSecret(value="old", created_at=now)],
    )
    rotated = hook.rotated("new", now)
    assert rotated.signing_secrets(now + timedelta(hours=23)) == ["new", "old"]
    assert rotated.signing_secrets(now + timedelta(hours=24)) == ["new"]
    twice = rotated.rotated("newer", now + timedelta(hours=1))
    assert twice.signing_secrets(now + timedelta(hours=2)) == ["newer", "new"]


def test_a_deployment_refuses_to_start_with_loopback_webhooks(monkeypatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ASSAY_"):
            monkeypatch.delenv(key)
    for key, value in CLOUD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("K_SERVICE", "api")
    assert Settings().webhooks_allow_loopback is False
    monkeypatch.setenv("ASSAY_WEBHOOKS_ALLOW_LOOPBACK", "true")
    with pytest.raises(ValidationError, match="ASSAY_WEBHOOKS_ALLOW_LOOPBACK is set"):
        Settings()
