"""Small HTTP(S) probes used while a cluster starts: no client library, bounded in time."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

SocketFactory = Callable[[], socket.socket]


class _Connection(http.client.HTTPSConnection):
    """HTTPS (or plain HTTP with ``context=None``) whose socket comes from a factory, so a
    probe can run inside the cluster's network namespace from a host thread."""

    def __init__(self, host: str, port: int, factory: SocketFactory | None, context, timeout):
        super().__init__(
            host, port, timeout=timeout, context=context or ssl.create_default_context()
        )
        self._factory = factory
        self._plain = context is None

    def connect(self) -> None:
        if self._factory is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)
        else:
            sock = self._factory()
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
        if self._plain:
            self.sock = sock
        else:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def client_context(ca: Path | None, cert: Path | None = None, key: Path | None = None):
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if ca is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return context


def get(
    host: str,
    port: int,
    path: str,
    *,
    context: ssl.SSLContext | None = None,
    factory: SocketFactory | None = None,
    timeout: float = 3.0,
) -> tuple[int, bytes]:
    """GET → (status, body); (0, b"") when nothing answers."""
    conn = _Connection(host, port, factory, context, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(1 << 20)
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        conn.close()


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def json_body(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
