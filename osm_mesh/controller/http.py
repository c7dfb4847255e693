"""A small threaded HTTP(S) server for the control-plane processes.

Routes map (method, path) to a function ``(body: bytes) -> Reply``. Used for the controller's
and injector's :9091 endpoints (/version, /smi/version, /health/*, /metrics) and, with TLS,
the injector's admission webhook on :9090. The standard library is enough here: the traffic
is probes, scrapes and admission calls, a few requests a second.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("osm_mesh.controller.http")

# A request body larger than this is refused (an AdmissionReview of a pod is a few KB).
MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(data, sort_keys=True).encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text.encode())


Route = Callable[[bytes], Reply]


class HttpServer:
    """``HttpServer(routes, host, port, tls=ssl_context).start()``; ``.port`` once started."""

    def __init__(
        self,
        routes: dict[tuple[str, str], Route],
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        name: str = "http",
    ) -> None:
        self.routes = routes
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.name = name
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} server is not running")
        return int(self._server.server_address[1])

    def start(self) -> HttpServer:
        routes, tls = self.routes, self.tls

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A client that stops talking is dropped instead of holding a thread forever.
            timeout = 30

            def setup(self) -> None:
                super().setup()
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()

            def _dispatch(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._send(Reply.text("request body too large\n", 413))
                body = self.rfile.read(length) if length else b""
                route = routes.get((method, path))
                if route is None:
                    known = any(p == path for _, p in routes)
                    status = 405 if known else 404
                    return self._send(Reply.text(f"{method} {path}: not served\n", status))
                try:
                    reply = route(body)
                except Exception:  # one bad request must not take the server down
                    log.exception("%s %s failed", method, path)
                    reply = Reply.text("internal error\n", 500)
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_HEAD(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s - %s", self.address_string(), format % args)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # Restarting the process must not wait for TIME_WAIT sockets.
            allow_reuse_address = True

            def get_request(self):  # type: ignore[no-untyped-def]
                sock, addr = super().get_request()
                # Headers and body go out as separate writes: without this, Nagle's algorithm
                # meets the client's delayed ACK and every reply waits ~40 ms.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if tls is None:
                    return sock, addr
                # Handshake in the handler thread (lazily, on first read) so one slow
                # client cannot block accept().
                return tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request: Any, client_address: Any) -> None:
                log.debug("%s: connection from %s failed", self.__class__.__name__, client_address)

        self._server = Server((self.host, self.requested_port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"{self.name}-server",
            daemon=True,
        )
        self._thread.start()
        log.info("%s server listening on %s:%s", self.name, self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def server_tls_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving ``cert_pem``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_certificate(context, cert_pem, key_pem)
    return context


def load_certificate(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Serve ``cert_pem`` from now on (new handshakes; open connections keep theirs).

    The ssl module loads keys from files only: they go through a private temp dir.
    """
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="osm-tls-") as tmp:
        cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        with open(cert_path, "wb") as fh:
            fh.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        context.load_cert_chain(cert_path, key_path)
