from __future__ import annotations

import json

from osm_mesh.local.stats import cluster_for_service, upstream_stats

V1 = "osm-canary-deployment-sample-app/api-v1|80"
ROOT = "osm-canary-deployment-sample-app/api|80"


def _stats(quantile_values: list[float | None]) -> str:
    # The shape Envoy 1.40's admin /stats?format=json answers (trimmed).
    return json.dumps(
        {
            "stats": [
                {"name": f"cluster.{V1}.upstream_rq_total", "value": 10},
                {"name": f"cluster.{V1}.upstream_rq_2xx", "value": 8},
                {"name": f"cluster.{V1}.upstream_rq_5xx", "value": 2},
                {"name": f"cluster.{ROOT}.upstream_rq_total", "value": 0},
                {
                    "histograms": {
                        "supported_quantiles": [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
                        "computed_quantiles": [
                            {
                                "name": f"cluster.{V1}.upstream_rq_time",
                                "values": [
                                    {"interval": None, "cumulative": v} for v in quantile_values
                                ],
                            }
                        ],
                    }
                },
            ]
        }
    )


def test_counts_success_rate_and_latency():
    body = _stats([None, None, None, 1.05, 2.5, 3.0, 4.0, 4.0, 4.0, 4.1])
    figures = upstream_stats(body)
    assert sorted(figures) == sorted([V1, ROOT])
    v1 = figures[V1]
    assert (v1.requests, v1.ok, v1.server_errors) == (10, 8, 2)
    assert v1.success_rate == 0.8
    # Quantiles in Envoy's zero bucket print as null: under 1 ms once a higher one has data.
    assert (v1.p50_ms, v1.p90_ms, v1.p99_ms) == (0.0, 2.5, 4.0)
    assert figures[ROOT].success_rate is None


def test_no_latency_before_the_first_flush():
    v1 = upstream_stats(_stats([None] * 10), [V1])[V1]
    assert (v1.p50_ms, v1.p90_ms) == (None, None)


def test_cluster_for_service_prefers_the_exact_service():
    clusters = [ROOT, V1, "osm-canary-deployment-sample-app/api-v2|80", "osm-controller"]
    ns = "osm-canary-deployment-sample-app"
    assert cluster_for_service(clusters, ns, "api") == ROOT
    assert cluster_for_service(clusters, ns, "api-v1") == V1
    assert cluster_for_service(clusters, ns, "api-v3") is None


def _counter_body(*clusters: str) -> str:
    return json.dumps(
        {"stats": [{"name": f"cluster.{c}.upstream_rq_total", "value": 1} for c in clusters]}
    )


def test_a_backend_called_later_is_still_found():
    # Deferred stats creation: api-v2's counters appear only after its first request, which
    # may come after the demo's first stats read.
    from osm_mesh.local.demo import CANARY_NS, find_backend_clusters

    v1, v2 = f"{CANARY_NS}/api-v1|80", f"{CANARY_NS}/api-v2|80"
    clusters: dict[str, str] = {}
    find_backend_clusters(_counter_body(v1), clusters)
    assert clusters == {"api-v1": v1}
    find_backend_clusters(_counter_body(v1, v2), clusters)
    assert clusters == {"api-v1": v1, "api-v2": v2}
