"""Prometheus metrics of the control-plane processes (served at :9091/metrics).

Values that already live in the running objects (snapshot version, connected proxies,
NACKs, watch counters) are read at scrape time by a collector instead of being copied
into gauges on every change; only durations (translation, snapshot -> ACK) are observed
as they happen.
Each process owns its registry, so tests can run several controllers in one interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from osm_mesh.controller.http import Reply

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Translation of every connected proxy, and snapshot -> ACK by all: milliseconds for a demo,
# seconds at scale.
SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _Read(Collector):
    """Metrics computed from ``read()`` at scrape time: (name, help, type, value)."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        for name, help_text, kind, value in self.read():
            family: Metric
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, value=value)
            else:
                family = GaugeMetricFamily(name, help_text, value=value)
            yield family


class Metrics:
    """A process's own registry; ``histogram()`` adds an observed metric to it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)

    def histogram(self, name: str, help_text: str, buckets: Iterable[float]) -> Histogram:
        return Histogram(name, help_text, buckets=tuple(buckets), registry=self.registry)

    def read_from(self, read: Callable[[], Iterable[tuple[str, str, str, float]]]) -> None:
        self.registry.register(_Read(read))

    def reply(self, _body: bytes = b"") -> Reply:
        return Reply(200, generate_latest(self.registry), CONTENT_TYPE)


class NackTally:
    """A monotonic NACK count from per-proxy statuses that keep only their recent NACKs."""

    def __init__(self) -> None:
        self.total = 0
        self._last: dict[str, float] = {}

    def update(self, statuses: Mapping[str, Any]) -> int:
        for node, status in statuses.items():
            last = self._last.get(node, 0.0)
            fresh = [n.at for n in status.nacks if n.at > last]
            if fresh:
                self.total += len(fresh)
                self._last[node] = max(fresh)
        # Proxies the server forgot (departed past their grace period) leave the tally too.
        for node in self._last.keys() - statuses.keys():
            del self._last[node]
        return self.total


def control_plane_values(controller: Any) -> list[tuple[str, str, str, float]]:
    """What the controller exposes beyond its histograms (``controller``: a Controller).

    Names the chart's control-plane dashboard reads (docs/container-contract.md) keep
    upstream OSM's spelling: osm_proxy_connect_count, osm_proxy_xds_nack_total.
    """
    cp, source = controller.control_plane, controller.source
    statuses = cp.statuses() if cp is not None else {}
    catalog = source.snapshot() if source is not None else None
    return [
        (
            "osm_proxy_connect_count",
            "Envoy proxies with an open ADS stream",
            "gauge",
            sum(1 for s in statuses.values() if s.connected),
        ),
        (
            "osm_proxy_xds_nack",
            "Configuration updates rejected (NACKed) by proxies",
            "counter",
            controller.nacks.update(statuses),
        ),
        (
            "osm_snapshot_version",
            "Generation of the newest proxy snapshots",
            "gauge",
            cp.version if cp is not None else 0,
        ),
        (
            "osm_catalog_version",
            "Version of the newest catalog built from the cluster",
            "gauge",
            catalog.version if catalog is not None else 0,
        ),
        (
            "osm_catalog_problems",
            "Problems found in mesh objects while building the catalog",
            "gauge",
            len(catalog.problems) if catalog is not None else 0,
        ),
        (
            "osm_kube_watch_events",
            "Kubernetes watch events applied",
            "counter",
            source.events if source is not None else 0,
        ),
        (
            "osm_kube_watch_errors",
            "Kubernetes list/watch failures (each followed by a retry)",
            "counter",
            source.errors if source is not None else 0,
        ),
    ]
