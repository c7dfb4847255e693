"""Convergence: a policy change → every connected Envoy has ACKed it.

20 real Envoys (local mode, one per pod) connect to one ControlPlane. Each round changes the
path regex of the HTTPRouteGroup that all 20 TrafficTargets use, so every proxy's inbound
route table changes. Latency per proxy = its last ACK - the moment ``source.apply`` was
called; per round we also record when the slowest proxy ACKed.

Baseline (same run): the same rounds with a single connected Envoy, i.e. the fixed cost of
regenerate + push + one Envoy applying the route table; the ratio shows what fan-out to 20
proxies adds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import Result

ROUNDS = 30
NS = "conv"


def _objects(n: int) -> list[dict]:
    objects: list[dict] = [
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": False}},
        }
    ]
    for i in range(n):
        app = f"s{i}"
        objects += [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": app, "namespace": NS},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": app, "namespace": NS},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": app}},
                    "template": {
                        "metadata": {"labels": {"app": app}},
                        "spec": {
                            "serviceAccountName": app,
                            "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": app, "namespace": NS},
                "spec": {
                    "selector": {"app": app},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                },
            },
            {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": app, "namespace": NS},
                "spec": {
                    "destination": {"kind": "ServiceAccount", "name": app, "namespace": NS},
                    "sources": [
                        {"kind": "ServiceAccount", "name": f"s{j}", "namespace": NS}
                        for j in range(n)
                    ],
                    "rules": [{"kind": "HTTPRouteGroup", "name": "routes"}],
                },
            },
        ]
    objects.append(_routes(0))
    return objects


def _routes(k: int) -> dict:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "routes", "namespace": NS},
        "spec": {"matches": [{"name": "m", "pathRegex": f"/v{k}/.*", "methods": ["GET"]}]},
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(n_envoys: int, rounds: int, workdir: Path) -> tuple[list[float], list[float], int]:
    """(per-proxy ACK latencies, per-round slowest latencies, peak Envoy RSS total)."""
    from osm_mesh.catalog import FileSource
    from osm_mesh.certs import CertificateAuthority
    from osm_mesh.controlplane import ControlPlane, ControlPlaneOptions
    from osm_mesh.envoy.process import EnvoyProcess
    from osm_mesh.envoy.translate import TranslateOptions
    from tests.e2e_envoy.harness import free_loopback_base

    base = free_loopback_base()
    source = FileSource(
        objects=_objects(n_envoys),
        monitored="all",
        pod_ip=lambda ns, dep, i, pod: f"{base}.{int(dep[1:]) + 1}",
    )
    ca = CertificateAuthority.create()
    cp = ControlPlane(source, ca, ControlPlaneOptions(translate=TranslateOptions(mode="local")))
    cp.start()
    envoys: list[EnvoyProcess] = []
    per_proxy: list[float] = []
    per_round: list[float] = []
    rss = 0
    try:
        for pod in source.snapshot().pods:
            envoys.append(EnvoyProcess(cp.bootstrap_for(pod), workdir, name=pod.name).start())
        for envoy in envoys:
            envoy.wait_ready(60)
        assert cp.wait_converged(timeout=60), "Envoys did not converge at start"
        rss = sum(e.rss_bytes() for e in envoys)
        for k in range(1, rounds + 1):
            before = cp.version
            start_wall = time.time()
            start = time.perf_counter()
            source.apply([_routes(k)])
            assert cp.wait_converged(before + 1, timeout=30), cp.statuses()
            per_round.append(time.perf_counter() - start)
            statuses = cp.statuses()
            latencies = [s.last_ack_at - start_wall for s in statuses.values() if s.connected]
            assert len(latencies) == n_envoys and min(latencies) > 0, latencies
            per_proxy += latencies
            nacks = [s.nacks for s in statuses.values() if s.nacks]
            assert not nacks, nacks
            time.sleep(0.05)
    finally:
        for envoy in envoys:
            envoy.stop()
        cp.stop()
    return per_proxy, per_round, rss


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        base_proxy, base_round, _ = measure(1, ROUNDS, Path(tmp) / "one")
        proxy, rounds, rss = measure(20, ROUNDS, Path(tmp) / "twenty")
    p99 = _percentile(proxy, 0.99)
    return [
        Result(
            "policy change → ACK, 20 Envoys, p99 over proxies x rounds",
            p99 * 1000,
            "ms",
            baseline="same with 1 Envoy (p99)",
            baseline_value=_percentile(base_proxy, 0.99) * 1000,
            target="<= 500 ms",
            met=p99 <= 0.5,
        ),
        Result(
            "policy change → ACK, 20 Envoys, p50",
            statistics.median(proxy) * 1000,
            "ms",
            baseline="same with 1 Envoy (p50)",
            baseline_value=statistics.median(base_proxy) * 1000,
        ),
        Result(
            "policy change → all 20 ACKed (slowest proxy), max over rounds",
            max(rounds) * 1000,
            "ms",
            baseline="1 Envoy, max over rounds",
            baseline_value=max(base_round) * 1000,
        ),
        Result("RSS of the 20 Envoys", rss / 2**20, "MiB"),
    ]
