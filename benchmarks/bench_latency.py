"""Latency added by two Envoy sidecars with mTLS, against direct calls, in the same run.

client ──HTTP──▶ client's Envoy (outbound 15001, used as HTTP proxy)
        ──mTLS──▶ server's Envoy (inbound 15003, RBAC) ──HTTP──▶ app
versus client ──HTTP──▶ app directly.

Open-loop load at 500 requests/s: request i is due at t0 + i/500 whatever happened before;
its latency is measured from that due time (no coordinated omission), so queueing counts.
The app is a minimal HTTP responder in a separate process (not sharing the generator's GIL).
Both paths run at the same time, each at 500 requests/s on its own connections, so noise from
the (shared, 2-core) machine hits them alike. Added = mesh - direct, per percentile.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import Result

RATE = 500
SECONDS = 8.0
CONNECTIONS = 4
NS = "lat"

APP = r"""
import socket, sys, threading
body = b"ok"
resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\n" + body
srv = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=128)
def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(resp)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def _read_response(sock: socket.socket, buf: bytearray) -> None:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError(head[:200])
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    buf[:] = rest[length:]


def open_loop(address: tuple[str, int], request: bytes, seconds: float) -> list[float]:
    """Latencies (s) of RATE*seconds requests due at fixed times over CONNECTIONS sockets."""
    total = int(RATE * seconds)
    latencies: list[float] = [0.0] * total
    t0 = time.perf_counter() + 0.05

    def worker(w: int) -> None:
        sock = socket.create_connection(address, timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        try:
            for i in range(w, total, CONNECTIONS):
                due = t0 + i / RATE
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sock.sendall(request)
                _read_response(sock, buf)
                latencies[i] = time.perf_counter() - due
        finally:
            sock.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> list[Result]:
    from osm_mesh.certs import CertificateAuthority
    from tests.e2e_envoy.harness import (
        APP_PORT,
        EnvoyMesh,
        deployment,
        route_group,
        service,
        service_account,
        traffic_target,
    )

    objects = [
        service_account(NS, "api"),
        service_account(NS, "load"),
        deployment(NS, "api", "api"),
        deployment(NS, "load", "load"),
        service(NS, "api"),
        route_group(NS, "r", [{"name": "all", "pathRegex": "/", "methods": ["GET"]}]),
        traffic_target(NS, "t", "api", ["load"], "r"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        mesh = EnvoyMesh(Path(tmp), CertificateAuthority.create(), objects)
        api_ip, load_ip = mesh.pod("api").ip, mesh.pod("load").ip
        app = subprocess.Popen(
            [sys.executable, "-c", APP, api_ip, str(APP_PORT)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert app.stdout is not None and app.stdout.readline().strip() == "ready"
            mesh.start_envoy("api")
            mesh.start_envoy("load")
            mesh.wait_ready()
            direct_req = b"GET /x HTTP/1.1\r\nHost: api.lat\r\n\r\n"
            mesh_req = b"GET http://api.lat/x HTTP/1.1\r\nHost: api.lat\r\n\r\n"
            open_loop((load_ip, 15001), mesh_req, 0.5)  # warm connection pools
            out: dict[str, list[float]] = {}

            def load(key: str, address: tuple[str, int], request: bytes) -> None:
                out[key] = open_loop(address, request, SECONDS)

            runs = [
                threading.Thread(target=load, args=("direct", (api_ip, APP_PORT), direct_req)),
                threading.Thread(target=load, args=("mesh", (load_ip, 15001), mesh_req)),
            ]
            for t in runs:
                t.start()
            for t in runs:
                t.join()
            direct, meshed = out["direct"], out["mesh"]
        finally:
            app.terminate()
            app.wait(5)
            mesh.close()

    results = []
    for label, q, target in (("p50", 0.50, 0.5), ("p99", 0.99, 2.0)):
        d, m = pct(direct, q) * 1000, pct(meshed, q) * 1000
        results.append(
            Result(
                f"latency added by 2 sidecars + mTLS at {RATE} req/s, {label}",
                m - d,
                "ms",
                baseline=f"direct call {label}",
                baseline_value=d,
                target=f"<= {target} ms added",
                met=(m - d) <= target,
            )
        )
        results.append(Result(f"meshed call {label} (absolute)", m, "ms"))
    return results
