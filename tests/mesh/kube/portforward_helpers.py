"""Test doubles for what sits behind a port-forward: a small HTTP server, a meshed pod."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """GET → "<title> <path>"; POST → the body back. Stands in for Grafana/Prometheus."""

    protocol_version = "HTTP/1.1"
    title = b"grafana"

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        self._send(200, self.title + b" " + self.path.encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self._send(200, body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def http_server(title: bytes = b"grafana") -> Iterator[http.server.ThreadingHTTPServer]:
    handler = type("Handler", (EchoHandler,), {"title": title})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def seed_namespace(emu: Any, name: str, labels: dict[str, str] | None = None) -> None:
    if emu.get("v1", "Namespace", name) is None:
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": labels or {}},
            }
        )


def seed_pod(
    emu: Any,
    namespace: str,
    name: str,
    *,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    containers: list[dict[str, Any]] | None = None,
) -> dict:
    """A pod; the emulator fills a Running status unless another phase is asked for."""
    seed_namespace(emu, namespace)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": containers or [{"name": "main", "image": "busybox"}]},
    }
    if phase != "Running":
        pod["status"] = {"phase": phase}
    return emu.create(pod)
