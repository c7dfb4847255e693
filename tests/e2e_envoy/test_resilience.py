"""Retries, timeouts, circuit breaking and fault injection on real Envoys.

One mesh for the whole module (a ``frontend`` client sidecar and an ``api`` server sidecar in
front of a scriptable app); each test applies its policies live over xDS and removes them.
The app's behaviour is chosen by path:

- ``/fail/<key>/<n>``: 503 for the first ``n`` requests of ``key``, then 200;
- ``/sleep/<ms>``: answer 200 after ``ms`` milliseconds;
- anything else: 200 at once.
"""

from __future__ import annotations

import http.client
import json
import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e_envoy.harness import (
    APP_PORT,
    EnvoyMesh,
    deployment,
    route_group,
    service,
    service_account,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(180)]
NS = "shop"
API = f"http://api.{NS}.svc.cluster.local"
POLICY = "policy.openservicemesh.io/v1alpha1"
SIGMAS = 5  # P(false failure) per binomial check ≈ 6e-7


# -- a scriptable upstream -----------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        state: AppState = self.server.state  # type: ignore[attr-defined]
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        status = 200
        with state.lock:
            state.hits[self.path] += 1
            if parts[0] == "fail" and len(parts) == 3:
                state.failures[parts[1]] += 1
                if state.failures[parts[1]] <= int(parts[2]):
                    status = 503
        if parts[0] == "sleep" and len(parts) == 2:
            time.sleep(int(parts[1]) / 1000)
        body = json.dumps({"status": status, "path": self.path}).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller (Envoy) gave up: a timeout under test

    def log_message(self, *args: object) -> None:
        pass


class AppState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # Envoy resetting a connection it gave up on (timeouts under test) is expected


class ScriptedApp:
    def __init__(self, ip: str) -> None:
        self.state = AppState()
        self.server = _QuietServer((ip, APP_PORT), _Handler)
        self.server.state = self.state  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- policies ------------------------------------------------------------------------------------
def retry(num: int, retry_on: str = "5xx") -> dict[str, Any]:
    return {
        "apiVersion": POLICY,
        "kind": "Retry",
        "metadata": {"name": "api-retry", "namespace": NS},
        "spec": {
            "source": {"kind": "ServiceAccount", "name": "frontend", "namespace": NS},
            "destinations": [{"kind": "Service", "name": "api", "namespace": NS}],
            "retryPolicy": {
                "retryOn": retry_on,
                "perTryTimeout": "2s",
                "numRetries": num,
                "retryBackoffBaseInterval": "10ms",
            },
        },
    }


def upstream_setting(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": POLICY,
        "kind": "UpstreamTrafficSetting",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"host": f"api.{NS}.svc.cluster.local", **spec},
    }


def fault(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": POLICY,
        "kind": "FaultInjection",
        "metadata": {"name": "api-chaos", "namespace": NS},
        "spec": {"host": f"api.{NS}.svc.cluster.local", **spec},
    }


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, mesh_ca) -> Iterator[EnvoyMesh]:
    objects = [
        service_account(NS, "api"),
        service_account(NS, "frontend"),
        deployment(NS, "api", "api"),
        deployment(NS, "frontend", "frontend"),
        service(NS, "api"),
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        traffic_target(NS, "api", "api", ["frontend"], "all"),
    ]
    mesh = EnvoyMesh(tmp_path_factory.mktemp("resilience"), mesh_ca, objects)
    app = ScriptedApp(mesh.pod("api").ip)
    try:
        mesh.start_envoy("api")
        mesh.start_envoy("frontend")
        mesh.wait_ready()
        mesh.scripted = app  # type: ignore[attr-defined]
        yield mesh
    finally:
        mesh.close()
        app.stop()


def clear(mesh: EnvoyMesh, *kinds: str) -> None:
    before = mesh.cp.version
    for kind, name in kinds_and_names(kinds):
        mesh.source.delete(kind, name, NS)
    assert mesh.cp.wait_converged(before + 1, 10), mesh.cp.statuses()


def kinds_and_names(kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    names = {"Retry": "api-retry", "UpstreamTrafficSetting": "api", "FaultInjection": "api-chaos"}
    return [(k, names[k]) for k in kinds]


def get(
    mesh: EnvoyMesh, path: str, conn: http.client.HTTPConnection | None = None
) -> tuple[int, dict[str, str], float]:
    """Status, response headers and seconds taken for ``GET <api><path>`` from frontend."""
    own = conn is None
    conn = conn or mesh.connection("frontend")
    start = time.monotonic()
    conn.request("GET", API + path, headers={"Host": f"api.{NS}.svc.cluster.local"})
    resp = conn.getresponse()
    resp.read()
    elapsed = time.monotonic() - start
    if own:
        conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, elapsed


def frontend_stats(mesh: EnvoyMesh, pattern: str) -> dict[str, int]:
    return mesh.envoys["frontend"].stats(pattern)


def within_binomial(count: int, n: int, p: float) -> tuple[bool, tuple[float, float]]:
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    low, high = mean - SIGMAS * sd, mean + SIGMAS * sd
    return low <= count <= high, (low, high)


# -- tests ---------------------------------------------------------------------------------------
def test_retry_turns_transient_503s_into_200(mesh):
    # Without a Retry policy the client sees the upstream's 503.
    assert get(mesh, "/fail/plain/1")[0] == 503
    mesh.change([retry(3)])
    try:
        status, _, _ = get(mesh, "/fail/retried/2")
        assert status == 200
        # The app saw the two failures and the successful third attempt.
        assert mesh.scripted.state.failures["retried"] == 3
        stats = frontend_stats(mesh, r"upstream_rq_retry$")
        assert sum(stats.values()) >= 2, stats
        # More failures than retries: the last 503 reaches the client.
        assert get(mesh, "/fail/exhausted/5")[0] == 503
        assert mesh.scripted.state.failures["exhausted"] == 4  # 1 try + 3 retries
    finally:
        clear(mesh, "Retry")
    assert get(mesh, "/fail/after/1")[0] == 503


def test_request_timeouts_host_and_per_route(mesh):
    # Baseline: a 600 ms answer arrives (the default route timeout is 15 s).
    assert get(mesh, "/sleep/600")[0] == 200
    mesh.change(
        [
            upstream_setting(
                {
                    "requestTimeout": "300ms",
                    "httpRoutes": [{"path": "/sleep/9", "requestTimeout": "2s"}],
                }
            )
        ]
    )
    try:
        status, headers, elapsed = get(mesh, "/sleep/2000")
        assert status == 504, headers
        assert 0.25 <= elapsed < 1.2, elapsed  # cut at ~300 ms, not after 2 s
        # The per-route timeout (2 s) lets a 900 ms request through...
        status, _, elapsed = get(mesh, "/sleep/900")
        assert status == 200 and elapsed >= 0.85
        # ...and still cuts a slower one on that route, at ~2 s.
        status, _, elapsed = get(mesh, "/sleep/9000")
        assert status == 504 and 1.9 <= elapsed < 4.0, elapsed
        # Fast requests are unaffected.
        assert get(mesh, "/sleep/10")[0] == 200
    finally:
        clear(mesh, "UpstreamTrafficSetting")


def test_circuit_breaker_sheds_load_with_x_envoy_overloaded(mesh):
    mesh.change(
        [
            upstream_setting(
                {
                    "connectionSettings": {
                        "tcp": {"maxConnections": 1},
                        "http": {"maxPendingRequests": 1, "maxRequests": 1},
                    }
                }
            )
        ]
    )
    try:
        before = sum(frontend_stats(mesh, r"upstream_rq_pending_overflow$").values())

        def one(_: int) -> tuple[int, dict[str, str], float]:
            return get(mesh, "/sleep/800")

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))
        statuses = Counter(status for status, _, _ in results)
        overloaded = [h for status, h, _ in results if status == 503]
        assert statuses[200] >= 1, statuses
        assert len(overloaded) >= 4, statuses  # 1 active + 1 pending at most get through early
        assert all(h.get("x-envoy-overloaded") == "true" for h in overloaded), overloaded
        # Shed at once, without waiting for the slow upstream.
        assert min(t for s, _, t in results if s == 503) < 0.6
        after = sum(frontend_stats(mesh, r"upstream_rq_pending_overflow$").values())
        assert after - before >= len(overloaded), (before, after)
    finally:
        clear(mesh, "UpstreamTrafficSetting")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: get(mesh, "/sleep/200"), range(8)))
    assert {status for status, _, _ in results} == {200}


def test_fault_injection_abort_and_delay(mesh):
    mesh.change([fault({"abort": {"httpStatus": 418, "percentage": 100}})])
    hits_before = sum(mesh.scripted.state.hits.values())
    conn = mesh.connection("frontend")
    try:
        assert [get(mesh, "/", conn)[0] for _ in range(20)] == [418] * 20
        # Aborted in the client's sidecar: the upstream never saw them.
        assert sum(mesh.scripted.state.hits.values()) == hits_before

        n = 400
        mesh.change([fault({"abort": {"httpStatus": 503, "percentage": 50}})])
        seen = Counter(get(mesh, "/", conn)[0] for _ in range(n))
        assert set(seen) == {200, 503}, seen
        ok, bound = within_binomial(seen[503], n, 0.5)
        assert ok, f"{seen[503]} aborts of {n}, expected within {bound}"

        mesh.change([fault({"delay": {"fixedDelay": "400ms", "percentage": 100}})])
        delayed = [get(mesh, "/", conn) for _ in range(3)]
        assert all(s == 200 and 0.38 <= t < 1.5 for s, _, t in delayed), delayed
        stats = frontend_stats(mesh, r"fault\.(aborts|delays)_injected$")
        assert stats and all(v > 0 for v in stats.values()), stats
    finally:
        conn.close()
        clear(mesh, "FaultInjection")
    after = [get(mesh, "/") for _ in range(10)]
    assert {status for status, _, _ in after} == {200}
    assert statistics.median(t for _, _, t in after) < 0.3  # the 400 ms delay is gone


def test_fault_for_other_sources_does_not_touch_this_client(mesh):
    other = {"kind": "ServiceAccount", "name": "someone-else", "namespace": NS}
    mesh.change([fault({"sources": [other], "abort": {"httpStatus": 500, "percentage": 100}})])
    try:
        assert get(mesh, "/")[0] == 200
    finally:
        clear(mesh, "FaultInjection")
