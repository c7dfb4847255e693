"""Convergence at scale (issue 13 item 2): a change → every affected proxy ACKed, 10,000 proxies.

The proxies are simulated Envoys (``benchmarks/adsload``): real gRPC clients in 4 other
processes, each with its own mutual-TLS connection and client certificate, ACKing every
response as Envoy does. The mesh is ``bench_catalog.mesh_objects`` (5,000 services, 10,000
pods, 5,000 TrafficTargets in 10 namespaces), with the TrafficTargets of a namespace sharing
one HTTPRouteGroup. Three kinds of change, each repeated:

- one TrafficTarget's sources changed: 6 proxies affected (destination, old and new source);
- one namespace's route group changed: 1,000 proxies affected (10%);
- all ten route groups changed in one burst: all 10,000 proxies.

Latency per affected proxy = when the server had its ACK of the new snapshot minus when the change
was applied to the source (it includes the coalescing window, the scoped recompute and the
push). p99 over proxies x rounds. Baseline, same run: the same changes with 1 proxy connected
(the fixed cost of recompute + push + one ACK; the ratio is what fan-out adds).

``python -m benchmarks.bench_convergence_scale [--proxies N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import Result, cpu_seconds
from benchmarks.bench_catalog import mesh_objects

PROCESSES = 4


def shared_route_groups(objects: list[dict[str, Any]], k: int = 0) -> list[dict[str, Any]]:
    """The mesh with one HTTPRouteGroup per namespace, used by all its TrafficTargets."""
    out = [o for o in objects if o["kind"] != "HTTPRouteGroup"]
    for o in out:
        if o["kind"] == "TrafficTarget":
            o["spec"]["rules"] = [{"kind": "HTTPRouteGroup", "name": "routes"}]
    namespaces = sorted({o["metadata"]["namespace"] for o in out if o["kind"] == "TrafficTarget"})
    return out + [route_group(ns, k) for ns in namespaces]


def route_group(namespace: str, k: int) -> dict[str, Any]:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "routes", "namespace": namespace},
        "spec": {"matches": [{"name": "read", "pathRegex": f"/v{k}/.*", "methods": ["GET"]}]},
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Scenario:
    """A control plane over the mesh with ``connected`` of its pods as simulated proxies."""

    def __init__(self, objects: list[dict[str, Any]], connected: int, workdir: Path) -> None:
        from benchmarks.adsload import LoadClients, proxies_for_pods, write_spec
        from osm_mesh.catalog import FileSource
        from osm_mesh.certs import CertificateAuthority
        from osm_mesh.controlplane import ControlPlane

        self.objects = objects
        self.source = FileSource(objects=copy.deepcopy(objects))
        ca = CertificateAuthority.create()
        self.cp = ControlPlane(self.source, ca).start()
        pods = self.source.snapshot().pods
        # The 1-proxy baseline connects a pod every change below affects.
        chosen = pods[:connected] if connected > 1 else [p for p in pods if p.name == "app1-0"]
        entries = proxies_for_pods(ca, chosen, self.cp.trust_domain)
        spec = write_spec(
            workdir / f"spec-{connected}.json",
            address=f"127.0.0.1:{self.cp.port}",
            server_name=self.cp.options.controller_name,
            ca_pem=ca.cert_pem,
            proxies=entries,
        )
        self.clients = LoadClients(spec, processes=min(PROCESSES, connected))
        self.connected = len(entries)

    def __enter__(self) -> Scenario:
        self.clients.start()
        running = self.clients.wait_running(timeout=900)
        failures = sum(r["failures"] for r in running)
        assert failures == 0, running
        assert self.cp.wait_converged(timeout=300), "proxies did not converge at start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.clients.stop()
        # Let the server see every stream end before stopping it.
        deadline = time.monotonic() + 120
        while self.cp.connected() and time.monotonic() < deadline:
            time.sleep(0.5)
        self.cp.stop()

    def change(self, objects: list[dict[str, Any]]) -> tuple[list[float], float, float]:
        """Apply ``objects``: the latency of every proxy whose snapshot changed (seconds),
        and the CPU seconds the control plane and the simulated proxies spent on it."""
        cache = self.cp.cache
        before = {n: cache.get(n) for n in self.cp.connected()}
        version = self.cp.version
        gc.collect()
        pids = self.clients.pids()
        cpu_before = (cpu_seconds(), sum(cpu_seconds(p) for p in pids))
        start = time.time()
        self.source.apply(objects)
        assert self.cp.wait_converged(version + 1, timeout=120), "no convergence in 120 s"
        time.sleep(0.2)  # the last ACKs' bookkeeping
        cpu = (cpu_seconds() - cpu_before[0], sum(cpu_seconds(p) for p in pids) - cpu_before[1])
        changed = [n for n, snap in before.items() if cache.get(n) is not snap]
        converged_at = self.cp.convergence.converged_at
        return [converged_at[n] - start for n in changed], cpu[0], cpu[1]


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0  # seconds, all rounds
    clients_cpu: float = 0.0


def run_changes(scenario: Scenario, rounds: int) -> dict[str, Measured]:
    targets = [o for o in scenario.objects if o["kind"] == "TrafficTarget"]
    namespaces = sorted({o["metadata"]["namespace"] for o in targets})
    out = {"target": Measured(), "namespace": Measured(), "all": Measured()}

    def record(kind: str, objects: list[dict[str, Any]]) -> None:
        latencies, server, clients = scenario.change(objects)
        out[kind].latencies += latencies
        out[kind].server_cpu += server
        out[kind].clients_cpu += clients

    for k in range(1, rounds + 1):
        # app1's TrafficTarget: its sources alternate between app0 (the original) and app2.
        target = copy.deepcopy(next(t for t in targets if t["metadata"]["name"] == "app1"))
        if k % 2:
            target["spec"]["sources"][0].update(name="app2", namespace="ns2")
        record("target", [target])
        time.sleep(0.2)
        record("namespace", [route_group("ns1", k)])
        time.sleep(0.2)
        record("all", [route_group(ns, 1000 + k) for ns in namespaces])
        time.sleep(0.5)
    return out


def run(proxies: int = 10000, rounds: int = 5) -> list[Result]:
    objects = shared_route_groups(mesh_objects(proxies // 2, proxies, proxies // 2))
    with tempfile.TemporaryDirectory() as tmp:
        with Scenario(objects, 1, Path(tmp)) as one:
            base = run_changes(one, rounds)
        load = os.getloadavg()[0]
        with Scenario(objects, proxies, Path(tmp)) as many:
            connect_load = os.getloadavg()[0]
            measured = run_changes(many, rounds)
            load = max(load, os.getloadavg()[0], connect_load)
            results = _results(proxies, rounds, base, measured, load)
            for result in results:  # before the teardown of 10,000 streams
                line = f"{result.name}: {result.value:.4g} ms (1 proxy {result.baseline_value:.4g})"
                print(line, file=sys.stderr, flush=True)
    return results


def _results(
    proxies: int,
    rounds: int,
    base: dict[str, Measured],
    measured: dict[str, Measured],
    load: float,
) -> list[Result]:
    results = []
    labels = {
        "target": "one TrafficTarget change (6 proxies affected)",
        "namespace": f"one namespace's route group ({proxies // 10:,} proxies affected)",
        "all": f"every route group in one burst ({proxies:,} proxies affected)",
    }
    for key, label in labels.items():
        p99 = percentile(measured[key].latencies, 0.99)
        results.append(
            Result(
                f"change → every affected proxy ACKed, {proxies:,} simulated proxies, "
                f"{label}: p99 (max load {load:.1f})",
                p99 * 1000,
                "ms",
                baseline="same change, 1 proxy connected (p99)",
                baseline_value=percentile(base[key].latencies, 0.99) * 1000,
                target="<= 1000 ms",
                met=p99 <= 1.0,
            )
        )
        results.append(
            Result(
                f"  same, p50 ({len(measured[key].latencies)} proxy ACKs over {rounds} rounds)",
                statistics.median(measured[key].latencies) * 1000,
                "ms",
                baseline="1 proxy (p50)",
                baseline_value=statistics.median(base[key].latencies) * 1000,
            )
        )
        acks = len(measured[key].latencies) or 1
        results.append(
            Result(
                "  CPU per affected proxy: control plane (clients in the name)"
                f" (clients {measured[key].clients_cpu / acks * 1000:.3f} ms)",
                measured[key].server_cpu / acks * 1000,
                "ms",
                baseline="1 proxy: control plane per change",
                baseline_value=base[key].server_cpu / max(1, len(base[key].latencies)) * 1000,
            )
        )
    return results


if __name__ == "__main__":
    from benchmarks.__main__ import format_result

    parser = argparse.ArgumentParser()
    parser.add_argument("--proxies", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for result in run(args.proxies, args.rounds):
        print(format_result(result), flush=True)
