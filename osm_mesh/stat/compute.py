"""Golden metrics of each workload from two readings of its pods' sidecars (pure).

Per workload (the ``destination_*`` labels of ``osm_request_total``, summed over its pods):
requests and their rate over the window, the success rate (answers that are not 5xx, as
Flagger counts them), latency quantiles from the duration histogram's bucket increases
(linear interpolation inside a bucket, as Prometheus' ``histogram_quantile``), and the inbound
TCP connections open at the end. Counters that went down (a restarted sidecar) count from
zero, as Prometheus' ``rate`` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from osm_mesh.envoy.telemetry import REQUEST_DURATION, REQUEST_TOTAL
from osm_mesh.stat.samples import CONNECTIONS, Labels, Reading

BUCKET = REQUEST_DURATION + "_bucket"
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, order=True)
class Workload:
    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


@dataclass
class WorkloadStats:
    workload: Workload
    pods_meshed: int = 0
    pods_total: int = 0
    requests: float = 0.0
    failures: float = 0.0  # 5xx answers
    window: float = 0.0
    quantiles: dict[float, float | None] = field(default_factory=dict)
    tcp_connections: int = 0
    # route name -> (requests, failures, quantiles) with --routes
    routes: dict[str, WorkloadStats] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return (self.requests - self.failures) / self.requests if self.requests else None

    @property
    def rps(self) -> float | None:
        return self.requests / self.window if self.window > 0 else None

    def as_dict(self) -> dict[str, Any]:
        def ms(q: float) -> float | None:
            v = self.quantiles.get(q)
            return None if v is None else round(v, 3)

        data: dict[str, Any] = {
            "namespace": self.workload.namespace,
            "kind": self.workload.kind,
            "name": self.workload.name,
            "meshed": self.pods_meshed,
            "pods": self.pods_total,
            "requests": round(self.requests),
            "successRate": None if self.success_rate is None else round(self.success_rate, 4),
            "rps": None if self.rps is None else round(self.rps, 3),
            "latencyMsP50": ms(0.5),
            "latencyMsP95": ms(0.95),
            "latencyMsP99": ms(0.99),
            "tcpConnections": self.tcp_connections,
            "windowSeconds": round(self.window, 3),
        }
        if self.routes:
            data["routes"] = {name: r.as_dict() for name, r in sorted(self.routes.items())}
        return data


def increase(before: float | None, after: float) -> float:
    """A counter's increase between two readings; a reset counts from zero."""
    if before is None or after < before:
        return after
    return after - before


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' estimate of the ``q`` quantile from cumulative bucket counts (le -> count)."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if math.isinf(upper):
                # In the +Inf bucket: the highest finite bound is the best answer there is.
                finite = [b for b in bounds if not math.isinf(b)]
                return finite[-1] if finite else None
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return None


def _workload(labels: Labels) -> Workload | None:
    d = dict(labels)
    if not d.get("destination_name"):
        return None
    return Workload(
        d.get("destination_namespace", ""), d.get("destination_kind", ""), d["destination_name"]
    )


def _key(labels: Labels, drop: Iterable[str]) -> Labels:
    gone = set(drop)
    return tuple((k, v) for k, v in labels if k not in gone)


def workload_stats(
    before: Mapping[str, Reading],
    after: Mapping[str, Reading],
    *,
    pods_of: Mapping[Workload, tuple[int, int]] | None = None,
    workload_of_pod: Mapping[str, Workload] | None = None,
    routes: bool = False,
) -> list[WorkloadStats]:
    """Stats per workload from readings keyed by pod (``before`` may lack new pods).

    ``pods_of``: workload -> (meshed pods, all pods), so workloads without traffic (or
    without sidecars) still get a row. ``workload_of_pod`` attributes each pod's open
    connections to its workload.
    """
    out: dict[Workload, WorkloadStats] = {}

    def entry(w: Workload) -> WorkloadStats:
        if w not in out:
            out[w] = WorkloadStats(w)
        return out[w]

    windows: dict[Workload, list[float]] = defaultdict(list)
    buckets: dict[Workload, dict[str, dict[float, float]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(float))
    )
    for pod, now in after.items():
        then = before.get(pod)
        earlier = then.series if then is not None else {}
        window = now.taken_at - then.taken_at if then is not None else 0.0
        seen: set[Workload] = set()
        for (name, labels), value in now.series.items():
            if name not in (REQUEST_TOTAL, BUCKET):
                continue
            workload = _workload(labels)
            if workload is None:
                continue
            seen.add(workload)
            delta = increase(earlier.get((name, labels)), value)
            route = dict(labels).get("route", "") if routes else ""
            targets = [entry(workload)]
            if route:
                targets.append(entry(workload).routes.setdefault(route, WorkloadStats(workload)))
            if name == REQUEST_TOTAL:
                code = dict(labels).get("response_code", "")
                for target in targets:
                    target.requests += delta
                    if code.startswith("5"):
                        target.failures += delta
            else:
                le = float(dict(labels)["le"].replace("+Inf", "inf"))
                for i, _target in enumerate(targets):
                    buckets[workload][route if i else ""][le] += delta
        for workload in seen:
            if window > 0:
                windows[workload].append(window)
        if workload_of_pod and pod in workload_of_pod:
            connections = now.get(CONNECTIONS)
            entry(workload_of_pod[pod]).tcp_connections += int(sum(connections.values()))
    for workload, per_route in buckets.items():
        stats = entry(workload)
        for route, cumulative in per_route.items():
            target = stats.routes[route] if route else stats
            target.quantiles = {q: histogram_quantile(q, cumulative) for q in QUANTILES}
    for stats in out.values():
        # A route nobody used in the window is noise, not a row.
        stats.routes = {name: r for name, r in stats.routes.items() if r.requests > 0}
    for workload, stats in out.items():
        spans = windows.get(workload)
        stats.window = sum(spans) / len(spans) if spans else 0.0
        for route_stats in stats.routes.values():
            route_stats.window = stats.window
    for workload, (meshed, total) in (pods_of or {}).items():
        stats = entry(workload)
        stats.pods_meshed, stats.pods_total = meshed, total
    return sorted(out.values(), key=lambda s: s.workload)
