"""Small helpers for the local stand-ins: free ports, waiting for a server, serving WSGI."""

from __future__ import annotations

import socket
import time
from typing import Any

import requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0, process: Any = None) -> None:
    """Waits until `url` answers at all (any status), or fails saying why."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException as exc:
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s: {last}")


def serve(app: Any, port: int, host: str = "127.0.0.1") -> None:
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    server.serve_forever()
