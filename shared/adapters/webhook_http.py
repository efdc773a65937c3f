"""Where a webhook may point, and the POST of a delivery to it (decision record 0087).

A URL is checked when it is registered and again at every delivery: its host is
resolved, every address it resolves to must be a public one, and the connection is
made to the address that was checked (the URL's host still names the server, in the
Host header and, over TLS, in SNI and the certificate check). A name that resolves to a
public address at the check and to a private one at the connect (DNS rebinding) thus
never reaches the private one. Redirects are not followed: a 3xx is an answer."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.platform.errors import Unprocessable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# A receiver answers within 10 s or the try fails (README, Webhooks): the delivery
# function's own timeout is 60 s, and a slow receiver holds only its own task.
CONNECT_SECONDS, TOTAL_SECONDS = 5.0, 10.0
MAX_ANSWER_BYTES = 64 * 1024


class RefusedUrl(Unprocessable):
    """A webhook URL Assay will not call: 422 at registration, a failed attempt later."""


class Unreachable(Exception):
    """The receiver could not be reached: no connection, a timeout, a TLS failure."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to call it (`host`)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedUrl(f"the webhook's host {host!r} does not resolve: {exc}") from None
    return [str(info[4][0]) for info in infos]


def _why_not(address: IpAddress, allow_loopback: bool) -> str | None:
    """Why Assay will not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return _why_not(address.ipv4_mapped, allow_loopback)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    named = (
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a CGNAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for bad, why in named if bad), None)


def _parts(url: str, allow_loopback: bool) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedUrl(f"the webhook URL is not a URL: {exc}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower()
    if scheme != "https" and not (scheme == "http" and allow_loopback):
        raise RefusedUrl("the webhook URL must be https")
    if not host or parts.username or parts.password or parts.fragment:
        raise RefusedUrl("the webhook URL needs a host, and no user, password or fragment")
    if host in METADATA_HOSTS or host.endswith(".internal"):
        raise RefusedUrl(f"the webhook URL's host {host!r} is a cloud metadata server")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def check(url: str, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> Target:
    """The URL as a target to connect to, or RefusedUrl naming why not. Every address the
    host resolves to must be allowed, not just the first: the client would pick one."""
    scheme, host, port, path = _parts(url, allow_loopback)
    addresses = resolve(host, port)
    if not addresses:
        raise RefusedUrl(f"the webhook's host {host!r} does not resolve")
    for raw in addresses:
        why = _why_not(ipaddress.ip_address(raw.split("%", 1)[0]), allow_loopback)
        if why:
            raise RefusedUrl(f"the webhook's host {host!r} resolves to {raw}, {why}")
    return Target(scheme, host, port, path, addresses[0])


def post(target: Target, body: bytes, headers: dict[str, str]) -> Answer:
    """POSTs `body` to the checked address, naming the URL's host: any HTTP answer is
    returned; Unreachable when there was none."""
    import urllib3

    try:
        return _post(urllib3, target, body, headers)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from exc


def _post(urllib3: Any, target: Target, body: bytes, headers: dict[str, str]) -> Answer:

    timeout = urllib3.Timeout(total=TOTAL_SECONDS, connect=CONNECT_SECONDS)
    pool: Any
    if target.scheme == "https":
        import certifi

        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False
        )
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host},
            redirect=False,
            preload_content=False,
        )
        raw = response.read(MAX_ANSWER_BYTES, decode_content=False)
        response.release_conn()
    return Answer(response.status, raw.decode("utf-8", "replace"))
