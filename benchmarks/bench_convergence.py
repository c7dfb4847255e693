"""Convergence with real Envoys (issue 13 item 2): a policy change → every Envoy ACKed it.

100 real Envoys (local mode, one per pod, each with its own loopback address) connect to one
ControlPlane; every pod may call every other. Each round changes the path regex of the
HTTPRouteGroup that all 100 TrafficTargets use, so every proxy's inbound route table changes.
Latency per proxy = when the server had its ACK of the new snapshot - the moment
``source.apply`` was called (coalescing window, scoped recompute, push, Envoy applying the
routes); per round we also record when the slowest proxy ACKed. Target: p99 <= 100 ms.

Baseline (same run): the same rounds with a single connected Envoy, i.e. the fixed cost of
recompute + push + one Envoy applying the route table; the ratio shows what fan-out to 100
proxies adds. The Envoys' memory is reported too (RSS, and PSS: the shared pages of the one
Envoy binary divided among the processes mapping them).

``python -m benchmarks.bench_convergence [--envoys N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import Result, cpu_seconds

ROUNDS = 30
ENVOYS = 100
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


def pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Measured:
    per_proxy: list[float] = field(default_factory=list)  # ACK latencies, seconds
    per_round: list[float] = field(default_factory=list)  # slowest proxy per round
    rss: int = 0  # Envoys' totals, bytes
    pss: int = 0
    control_plane_cpu: list[float] = field(default_factory=list)  # seconds per round
    envoys_cpu: list[float] = field(default_factory=list)
    windows: list[float] = field(default_factory=list)  # wall seconds each CPU figure covers
    envoys_idle_cpu: float = 0.0  # the Envoys' CPU seconds per second with no change
    recompute: list[float] = field(default_factory=list)  # wall seconds of the recompute


def measure(n_envoys: int, rounds: int, workdir: Path) -> Measured:
    """ACK latencies, Envoy memory and the CPU a change costs the control plane and Envoys."""
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
    out = Measured()
    try:
        for pod in source.snapshot().pods:
            envoys.append(EnvoyProcess(cp.bootstrap_for(pod), workdir, name=pod.name).start())
        for envoy in envoys:
            envoy.wait_ready(120)
        assert cp.wait_converged(timeout=120), "Envoys did not converge at start"
        time.sleep(1)
        out.rss = sum(e.rss_bytes() for e in envoys)
        out.pss = sum(pss_bytes(e.proc.pid) for e in envoys if e.proc is not None)
        pids = [e.proc.pid for e in envoys if e.proc is not None]
        # What the Envoys burn doing nothing (stats flushes, timers), to tell apart from what
        # applying a change costs them.
        idle_start, idle_cpu = time.perf_counter(), sum(cpu_seconds(p) for p in pids)
        time.sleep(3)
        out.envoys_idle_cpu = (sum(cpu_seconds(p) for p in pids) - idle_cpu) / (
            time.perf_counter() - idle_start
        )
        for k in range(1, rounds + 1):
            before = cp.version
            snapshots = {n: cp.cache.get(n) for n in cp.connected()}
            cpu_before = (cpu_seconds(), sum(cpu_seconds(p) for p in pids))
            start_wall = time.time()
            start = time.perf_counter()
            source.apply([_routes(k)])
            assert cp.wait_converged(before + 1, timeout=30), cp.statuses()
            out.per_round.append(time.perf_counter() - start)
            time.sleep(0.2)  # let the Envoys finish applying what they ACKed
            out.control_plane_cpu.append(cpu_seconds() - cpu_before[0])
            out.envoys_cpu.append(sum(cpu_seconds(p) for p in pids) - cpu_before[1])
            out.windows.append(time.perf_counter() - start)
            last = cp.recomputer.last
            assert last is not None and last.translated == n_envoys, last
            out.recompute.append(last.seconds)
            changed = [n for n, snap in snapshots.items() if cp.cache.get(n) is not snap]
            converged_at = cp.convergence.converged_at
            latencies = [converged_at[n] - start_wall for n in changed]
            assert len(latencies) == n_envoys and min(latencies) > 0, latencies
            out.per_proxy += latencies
            statuses = cp.statuses()
            nacks = [s.nacks for s in statuses.values() if s.nacks]
            assert not nacks, nacks
            time.sleep(0.05)
    finally:
        for envoy in envoys:
            envoy.stop()
        cp.stop()
    return out


def _net_envoy_cpu(m: Measured) -> float:
    """Mean CPU seconds the Envoys spent per change beyond what they burn idle."""
    idle = m.envoys_idle_cpu * statistics.mean(m.windows)
    return statistics.mean(m.envoys_cpu) - idle


def run(envoys: int = ENVOYS, rounds: int = ROUNDS) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        one = measure(1, rounds, Path(tmp) / "one")
        load_before = os.getloadavg()[0]
        many = measure(envoys, rounds, Path(tmp) / "many")
        load = max(load_before, os.getloadavg()[0])
    p99 = _percentile(many.per_proxy, 0.99)
    return [
        Result(
            f"policy change → ACK, {envoys} Envoys, p99 over proxies x rounds (load {load:.1f})",
            p99 * 1000,
            "ms",
            baseline="same with 1 Envoy (p99)",
            baseline_value=_percentile(one.per_proxy, 0.99) * 1000,
            target="<= 100 ms",
            met=p99 <= 0.1,
        ),
        Result(
            f"policy change → ACK, {envoys} Envoys, p50",
            statistics.median(many.per_proxy) * 1000,
            "ms",
            baseline="same with 1 Envoy (p50)",
            baseline_value=statistics.median(one.per_proxy) * 1000,
        ),
        Result(
            f"policy change → all {envoys} ACKed (slowest proxy), max over rounds",
            max(many.per_round) * 1000,
            "ms",
            baseline="1 Envoy, max over rounds",
            baseline_value=max(one.per_round) * 1000,
        ),
        Result(
            f"  of which the recompute (translate {envoys} proxies, store snapshots), wall, p50",
            statistics.median(many.recompute) * 1000,
            "ms",
            baseline="1 proxy",
            baseline_value=statistics.median(one.recompute) * 1000,
        ),
        Result(
            f"CPU per change: control-plane process, {envoys} Envoys (mean; 10 ms ticks)",
            statistics.mean(many.control_plane_cpu) * 1000,
            "ms",
            baseline="1 Envoy",
            baseline_value=statistics.mean(one.control_plane_cpu) * 1000,
        ),
        Result(
            f"CPU per change: the {envoys} Envoys together, applying it (mean, their idle CPU "
            f"over the same {statistics.mean(many.windows) * 1000:.0f} ms subtracted)",
            _net_envoy_cpu(many) * 1000,
            "ms",
            baseline="the 1 Envoy",
            baseline_value=_net_envoy_cpu(one) * 1000,
        ),
        Result(
            f"CPU of the {envoys} Envoys together, idle, per second",
            many.envoys_idle_cpu * 1000,
            "ms",
            baseline="the 1 Envoy",
            baseline_value=one.envoys_idle_cpu * 1000,
        ),
        Result(f"RSS per Envoy, mean of {envoys}", many.rss / envoys / 2**20, "MiB"),
        Result(f"PSS per Envoy, mean of {envoys}", many.pss / envoys / 2**20, "MiB"),
    ]


if __name__ == "__main__":
    from benchmarks.__main__ import format_result

    parser = argparse.ArgumentParser()
    parser.add_argument("--envoys", type=int, default=ENVOYS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    for result in run(args.envoys, args.rounds):
        print(format_result(result), flush=True)
