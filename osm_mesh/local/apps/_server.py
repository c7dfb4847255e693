"""What both demo apps share: where to listen and a quiet threaded HTTP server."""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections from Envoy open between requests.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, the body then waits for
    # the peer's delayed ACK (~40 ms per response, measured through Envoy).
    disable_nagle_algorithm = True
    server_version = "osm-sample"

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(data).encode(), "application/json", headers)

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request in the app's log file (the supervisor captures stderr).
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve(handler: type[Handler]) -> None:
    host = os.environ.get("POD_IP", "127.0.0.1")
    port = int(os.environ.get("PORT", "80"))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    # The supervisor stops apps with SIGTERM: leave cleanly rather than with a traceback.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"listening on {host}:{port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
