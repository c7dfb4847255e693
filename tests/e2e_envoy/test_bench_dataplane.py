"""The data-plane benchmarks stay runnable (they are not run by CI): the floor Envoys of
bench_latency forward for real, its arithmetic is the documented one, and bench_sidecar_memory
reads the figures it reports."""

from __future__ import annotations

import http.client
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from benchmarks.bench_latency import results, static_envoy
from benchmarks.bench_sidecar_memory import smaps_rollup
from osm_mesh.envoy.process import EnvoyProcess
from tests.e2e_envoy.harness import free_loopback_base

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(60)]


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = self.headers.get("host", "").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_floor_envoys_forward_to_the_app(tmp_path):
    base = free_loopback_base()
    app = HTTPServer((f"{base}.3", 0), _Hello)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    client, server = (f"{base}.1", 15001), (f"{base}.2", 15003)
    envoys = [
        EnvoyProcess(static_envoy(server, app.server_address[:2]), tmp_path, name="s").start(),
        EnvoyProcess(static_envoy(client, server), tmp_path, name="c").start(),
    ]
    try:
        for _ in range(50):  # listeners bind right after the admin port opens
            try:
                socket.create_connection(client, timeout=1).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        conn = http.client.HTTPConnection(*client, timeout=5)
        conn.request("GET", "/echo", headers={"Host": "api"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"api")
    finally:
        for envoy in envoys:
            envoy.stop()
        app.shutdown()


def _round(direct: float, floor: float, mesh: float) -> dict:
    def path(ms: float, cpu: float) -> dict:
        return {
            "ms": {50.0: ms, 90.0: ms * 2, 99.0: ms * 3},
            "qps": 1000.0,
            "count": 10000,
            "errors": 0,
            "load": 1.0,
            "cpu_us": cpu,
            "wait_us": 1.0,
        }

    return {"direct": path(direct, 0), "floor": path(floor, 300), "mesh": path(mesh, 400)}


def test_added_latency_is_mesh_minus_direct_median_over_rounds():
    rounds = [_round(0.1, 0.3, 0.2), _round(0.1, 0.5, 0.4), _round(0.2, 0.9, 0.9)]
    out = results(rounds)

    def named(start: str):
        (found,) = [r for r in out if r.name.startswith(start)]
        return found

    p99 = named("latency added by 2 sidecars + mTLS + RBAC, p99")
    # median mesh p99 1.2 ms - median direct p99 0.3 ms
    assert p99.value == pytest.approx(0.9) and p99.baseline_value == pytest.approx(0.3)
    assert p99.met is False
    floor = named("latency added by 2 Envoys, static config, no mTLS/RBAC (floor), p50")
    assert floor.value == pytest.approx(0.4)


def test_smaps_rollup_splits_rss():
    figures = smaps_rollup(os.getpid())
    assert figures["Rss"] >= figures["Anonymous"] > 0
    assert figures["Pss"] > 0
