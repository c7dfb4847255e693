"""Per-upstream traffic figures from an Envoy's admin ``/stats?format=json``.

The demo's live view reads the *client's* sidecar: for each upstream cluster it
shows requests, 2xx/4xx/5xx, success rate and latency quantiles (Envoy's
``upstream_rq_time`` histogram, in milliseconds). Nothing here is computed by
the demo itself: the numbers are Envoy's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_COUNTERS = ("upstream_rq_total", "upstream_rq_2xx", "upstream_rq_4xx", "upstream_rq_5xx")


@dataclass(frozen=True)
class UpstreamStats:
    cluster: str
    requests: int = 0
    ok: int = 0  # 2xx
    client_errors: int = 0  # 4xx
    server_errors: int = 0  # 5xx
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None

    @property
    def success_rate(self) -> float | None:
        answered = self.ok + self.client_errors + self.server_errors
        return self.ok / answered if answered else None


def parse_stats(
    body: str | bytes | dict[str, Any],
) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """(counters and gauges by name, histogram name → {quantile: cumulative value})."""
    data = json.loads(body) if isinstance(body, str | bytes) else body
    values: dict[str, int] = {}
    histograms: dict[str, dict[str, float]] = {}
    for entry in data.get("stats", []):
        if "value" in entry:
            values[entry["name"]] = int(entry["value"])
            continue
        hist = entry.get("histograms")
        if not isinstance(hist, dict):
            continue
        quantiles = [str(q) for q in hist.get("supported_quantiles", [])]
        for computed in hist.get("computed_quantiles", []):
            points: dict[str, float] = {}
            seen_higher = False
            # Envoy records upstream_rq_time in whole milliseconds and prints quantiles that
            # fall in the zero bucket as null; once a higher quantile has a value, a null
            # below it means "under 1 ms" (0.0), not "no data".
            for q, value in reversed(
                list(zip(quantiles, computed.get("values", []), strict=False))
            ):
                cumulative = value.get("cumulative")
                if cumulative is not None:
                    points[q] = float(cumulative)
                    seen_higher = True
                elif seen_higher:
                    points[q] = 0.0
            histograms[computed["name"]] = points
    return values, histograms


def upstream_stats(
    body: str | bytes | dict[str, Any], clusters: list[str] | None = None
) -> dict[str, UpstreamStats]:
    """Figures for ``clusters`` (default: every cluster with upstream requests)."""
    values, histograms = parse_stats(body)
    if clusters is None:
        clusters = sorted(
            name[len("cluster.") : -len(".upstream_rq_total")]
            for name in values
            if name.startswith("cluster.") and name.endswith(".upstream_rq_total")
        )
    out = {}
    for cluster in clusters:
        prefix = f"cluster.{cluster}."
        total, ok, c4, c5 = (values.get(prefix + c, 0) for c in _COUNTERS)
        latency = histograms.get(prefix + "upstream_rq_time", {})
        out[cluster] = UpstreamStats(
            cluster=cluster,
            requests=total,
            ok=ok,
            client_errors=c4,
            server_errors=c5,
            p50_ms=_quantile(latency, 50),
            p90_ms=_quantile(latency, 90),
            p99_ms=_quantile(latency, 99),
        )
    return out


def _quantile(points: dict[str, float], q: int) -> float | None:
    # Envoy prints supported quantiles as 50 or 50.0 depending on version.
    for key in (str(q), f"{q}.0", str(float(q))):
        if key in points:
            return points[key]
    return None


def cluster_for_service(clusters: list[str], namespace: str, service: str) -> str | None:
    """The upstream cluster of ``namespace/service`` among Envoy's cluster names.

    The translator names clusters after the service (with namespace and port in some
    form); the most specific match wins: ``ns/svc`` or ``svc.ns`` forms first, then
    the bare name as a whole dash/dot/pipe-separated word.
    """
    import re

    for pattern in (
        rf"(^|[^a-z0-9-]){re.escape(namespace)}[/.|_]{re.escape(service)}($|[^a-z0-9-])",
        rf"(^|[^a-z0-9-]){re.escape(service)}\.{re.escape(namespace)}($|[^a-z0-9-])",
        rf"(^|[^a-z0-9-]){re.escape(service)}($|[^a-z0-9-])",
    ):
        found = [c for c in clusters if re.search(pattern, c)]
        if found:
            return sorted(found, key=len)[0]
    return None
