"""Port-forward cost: the same HTTP requests straight to a local server (baseline) and
through ``osm_mesh.kube.portforward`` → the test API emulator's pods/portforward
websocket (v4.channel.k8s.io) → the same server.

- latency: median wall time of one GET on a new connection (each forwarded connection
  opens its own websocket, as kubectl does per connection);
- throughput: one 16 MiB response;
- concurrency: 48 GETs from 12 threads.

The emulator is Python too, so the forwarded figures include two Python hops (client
bridge and emulator bridge) where a real cluster has the API server and kubelet.
No target was set by the issue: the figures are reported for tracking.
"""

from __future__ import annotations

import http.client
import http.server
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import Result

BIG = 16 * 1024 * 1024
RUNS = 30


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    big = b"x" * BIG

    def do_GET(self) -> None:
        body = self.big if self.path == "/big" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    # The default backlog (5) drops SYNs under the 12-thread burst and adds 1 s retries.
    request_queue_size = 128
    daemon_threads = True


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def _median_latency(port: int) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        _get(port, "/")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _throughput(port: int) -> float:
    start = time.perf_counter()
    body = _get(port, "/big")
    elapsed = time.perf_counter() - start
    assert len(body) == BIG
    return BIG / elapsed / 1e6


def _concurrent(port: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=12) as pool:
        bodies = list(pool.map(lambda _: _get(port, "/"), range(48)))
    assert bodies == [b"ok"] * 48
    return time.perf_counter() - start


def run() -> list[Result]:
    from osm_mesh.kube.client import connect
    from osm_mesh.kube.portforward import forward_to_pod
    from tests.emulator import KubeEmulator

    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    direct = server.server_address[1]
    emulator = KubeEmulator()
    emulator.start()
    try:
        emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}})
        emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "b"},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            }
        )
        emulator.serve_port_forward("b", "p", 80, "127.0.0.1", direct)
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = Path(tmp) / "kubeconfig"
            emulator.write_kubeconfig(kubeconfig)
            kube = connect(str(kubeconfig))
            with forward_to_pod(kube, "b", "p", 80) as forwarder:
                forwarded = forwarder.local_port
                _get(forwarded, "/")  # warm-up: imports, first handshake
                latency_direct = _median_latency(direct)
                latency_forwarded = _median_latency(forwarded)
                mbps_direct = _throughput(direct)
                mbps_forwarded = _throughput(forwarded)
                burst_direct = _concurrent(direct)
                burst_forwarded = _concurrent(forwarded)
    finally:
        emulator.stop()
        server.shutdown()
        server.server_close()
    return [
        Result(
            "portforward GET latency (new connection, p50)",
            latency_forwarded * 1000,
            "ms",
            baseline="direct GET",
            baseline_value=latency_direct * 1000,
        ),
        Result(
            "portforward throughput (16 MiB response)",
            mbps_forwarded,
            "MB/s",
            baseline="direct",
            baseline_value=mbps_direct,
        ),
        Result(
            "portforward 48 GETs from 12 threads",
            burst_forwarded * 1000,
            "ms",
            baseline="direct",
            baseline_value=burst_direct * 1000,
        ),
    ]
