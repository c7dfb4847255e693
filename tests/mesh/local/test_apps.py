"""The demo apps as real processes on loopback, without a mesh."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from osm_mesh.local.addresses import claim_block

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"{host}:{port} never opened")


@pytest.fixture
def block():
    block = claim_block(3)
    yield block
    block.release()


@pytest.fixture
def start_app(block) -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(module: str, index: int, *args: str, **env: str) -> str:
        ip = block.pod_ip(index)
        environ = {"PATH": os.environ["PATH"], "POD_IP": ip, "PORT": "8080", **env}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", module, *args], env=environ, stderr=subprocess.DEVNULL
            )
        )
        _wait_port(ip, 8080)
        return ip

    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


def _get(url: str) -> tuple[int, dict, bytes]:
    try:
        with DIRECT.open(url, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_api_versions(start_app):
    v1 = start_app("osm_mesh.local.apps.api", 0, "--version", "v1")
    v2 = start_app("osm_mesh.local.apps.api", 1, "--version", "v2")
    status, headers, body = _get(f"http://{v1}:8080/api/values")
    assert (status, json.loads(body), headers["X-Api-Version"]) == (
        200,
        ["Value 1", "Value 2", "Value 3"],
        "v1",
    )
    status, headers, body = _get(f"http://{v2}:8080/api/values")
    assert (status, json.loads(body)) == (200, ["Value 4", "Value 5", "Value 6"])
    assert _get(f"http://{v1}:8080/other")[0] == 404


def test_frontend_calls_the_api_through_http_proxy(start_app, block):
    # A plain forward proxy stands in for the sidecar: it records the request line it got,
    # which proves the frontend sent the cluster name through HTTP_PROXY.
    api = start_app("osm_mesh.local.apps.api", 0, "--version", "v2")
    seen: list[str] = []
    proxy_ip = block.pod_ip(2)
    server = socket.create_server((proxy_ip, 15001))

    def serve_once():
        conn, _ = server.accept()
        with conn:
            request = conn.recv(65536).decode()
            seen.append(request.splitlines()[0])
            host = next(h for h in request.splitlines() if h.lower().startswith("host:"))
            seen.append(host)
            with socket.create_connection((api, 8080)) as upstream:
                upstream.sendall(b"GET /api/values HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := upstream.recv(65536):
                    data += chunk
            conn.sendall(data)

    import threading

    t = threading.Thread(target=serve_once, daemon=True)
    t.start()
    url = "http://api.demo.svc.cluster.local/api/values"
    fe = start_app(
        "osm_mesh.local.apps.frontend",
        1,
        API_URL=url,
        HTTP_PROXY=f"http://{proxy_ip}:15001",
        NO_PROXY="",
    )
    status, _, body = _get(f"http://{fe}:8080/data")
    server.close()
    assert status == 200
    data = json.loads(body)
    assert data["status"] == 200 and data["values"] == ["Value 4", "Value 5", "Value 6"]
    assert data["version"] == "v2" and data["latency_ms"] > 0
    assert seen == [f"GET {url} HTTP/1.1", "Host: api.demo.svc.cluster.local"]


def test_frontend_page_shows_the_articles_error_text(start_app, block):
    # Nothing listens on the proxy address: the page shows the original's error text.
    fe = start_app(
        "osm_mesh.local.apps.frontend",
        1,
        API_URL="http://api.demo.svc.cluster.local/api/values",
        HTTP_PROXY=f"http://{block.pod_ip(2)}:15001",
        NO_PROXY="",
    )
    status, _, body = _get(f"http://{fe}:8080/")
    assert status == 200 and b"Error while reading data from the API" in body
    status, _, body = _get(f"http://{fe}:8080/data")
    data = json.loads(body)
    assert data["status"] == 0 and data["values"] is None and data["error"]


def test_api_fails_the_asked_share_and_answers_any_status():
    import http.client
    import threading
    from http.server import ThreadingHTTPServer

    from osm_mesh.local.apps.api import make_handler

    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler("v2", fail_percent=20))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        codes = []
        for path in ["/api/values"] * 100 + ["/status/503", "/status/99"]:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
            conn.request("GET", path)
            codes.append(conn.getresponse().status)
            conn.close()
        assert codes[:100].count(500) == 20 and codes[:100].count(200) == 80
        assert codes[100:] == [503, 404]
    finally:
        server.shutdown()
        server.server_close()
