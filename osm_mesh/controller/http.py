"""A small threaded HTTP(S) server for the control-plane processes.

Routes map (method, path) to a function ``(body: bytes) -> Reply``. Used for the controller's
and injector's :9091 endpoints (/version, /smi/version, /health/*, /metrics) and, with TLS,
the injector's admission webhook on :9090. The standard library is enough here: the traffic
is probes, scrapes and admission calls, a few requests a second.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from osm_mesh.controller.http_limits import (
    GET_ONLY,
    ByteBudget,
    HeaderBudget,
    Limits,
    RateLimiter,
    Refusal,
    declared_length,
    read_exactly,
)

log = logging.getLogger("osm_mesh.controller.http")


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
    """``HttpServer(routes, host, port, tls=ssl_context, limits=...).start()``; ``.port``
    once started. ``limits`` bound what any client can make the server hold (see
    ``http_limits``); routes registered for GET take no body."""

    def __init__(
        self,
        routes: dict[tuple[str, str], Route],
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        name: str = "http",
        limits: Limits = GET_ONLY,
    ) -> None:
        self.routes = routes
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.name = name
        self.limits = limits
        self.refused: dict[int, int] = {}  # status -> count, for tests and logs
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} server is not running")
        return int(self._server.server_address[1])

    def start(self) -> HttpServer:
        server_self = self
        routes, tls, limits = self.routes, self.tls, self.limits
        budget = ByteBudget(limits.effective_body_budget)
        handlers = threading.BoundedSemaphore(limits.max_handlers)
        connections = threading.BoundedSemaphore(limits.max_connections)
        rate = RateLimiter(limits.rate) if limits.rate else None

        def count(status: int) -> None:
            server_self.refused[status] = server_self.refused.get(status, 0) + 1

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A client that stops talking is dropped instead of holding a thread.
            timeout = limits.idle_timeout

            def setup(self) -> None:
                super().setup()
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()
                self.rfile = HeaderBudget(self.rfile, limits.header_bytes)  # type: ignore[assignment]

            def handle_one_request(self) -> None:
                self.rfile.reset()  # type: ignore[attr-defined]
                # What send_error needs if the request line itself is over the budget.
                self.command, self.request_version, self.requestline = "", "HTTP/1.1", ""
                try:
                    super().handle_one_request()
                except http.client.LineTooLong:
                    self.close_connection = True
                    count(431)
                    self.send_error(431, "request line and headers too large")

            def handle_expect_100(self) -> bool:
                # "100 Continue" only once the declared body passed the checks (_dispatch).
                return True

            def _refuse(self, refusal: Refusal) -> None:
                # The body was not read: the connection cannot carry another request.
                count(refusal.status)
                self.close_connection = True
                headers = {"Connection": "close", **refusal.headers}
                self._send(Reply(refusal.status, (refusal.reason + "\n").encode(), headers=headers))

            def _dispatch(self, method: str) -> None:
                try:
                    self._serve(method)
                except Refusal as refusal:
                    self._refuse(refusal)

            def _serve(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                if rate is not None and not rate.allow(self.client_address[0]):
                    retry = {"Retry-After": str(rate.retry_after())}
                    raise Refusal(429, "too many requests from this address", retry)
                route = routes.get((method, path))
                if route is None:
                    known = any(p == path for _, p in routes)
                    raise Refusal(405 if known else 404, f"{method} {path}: not served")
                takes_body = method == "POST"
                length = declared_length(
                    self.headers, limits.max_body if takes_body else 0, required=takes_body
                )
                if not budget.reserve(length):
                    raise Refusal(
                        503, "too many request bodies in flight; retry", {"Retry-After": "1"}
                    )
                try:
                    body = self._read_body(length)
                    if not handlers.acquire(timeout=limits.handler_wait):
                        raise Refusal(503, "server busy; retry", {"Retry-After": "1"})
                    try:
                        reply = route(body)  # type: ignore[arg-type]
                    except Exception:  # one bad request must not take the server down
                        log.exception("%s %s failed", method, path)
                        reply = Reply.text("internal error\n", 500)
                    finally:
                        handlers.release()
                        del body
                finally:
                    budget.release(length)
                self._send(reply)

            def _read_body(self, length: int) -> bytearray:
                if not length:
                    return bytearray()
                if self.headers.get("Expect", "").lower() == "100-continue":
                    self.send_response_only(100)
                    self.end_headers()
                    self.wfile.flush()
                deadline = time.monotonic() + limits.body_deadline
                raw = self.rfile.raw  # type: ignore[attr-defined]
                body = read_exactly(raw, length, deadline, self.connection)
                if body is None:
                    raise Refusal(408, "request body not received in time")
                return body

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

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s - %s", self.address_string(), format % args)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # Restarting the process must not wait for TIME_WAIT sockets.
            allow_reuse_address = True
            request_queue_size = 64

            def get_request(self):  # type: ignore[no-untyped-def]
                sock, addr = super().get_request()
                # Headers and body go out as separate writes: without this, Nagle's algorithm
                # meets the client's delayed ACK and every reply waits ~40 ms.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(limits.idle_timeout)  # the TLS handshake too
                if tls is None:
                    return sock, addr
                # Handshake in the handler thread (lazily, on first read) so one slow
                # client cannot block accept().
                return tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def process_request(self, request: Any, client_address: Any) -> None:
                # Over the connection cap: closed before anything is read (no thread, no
                # buffers). The client sees a reset and retries.
                if not connections.acquire(blocking=False):
                    count(503)
                    self.shutdown_request(request)
                    return
                try:
                    super().process_request(request, client_address)
                except BaseException:
                    connections.release()
                    raise

            def process_request_thread(self, request: Any, client_address: Any) -> None:
                try:
                    super().process_request_thread(request, client_address)  # type: ignore[misc]
                finally:
                    connections.release()

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
