"""`osm stat`'s arithmetic by value: counter increases, histogram quantiles, per-workload sums."""

from __future__ import annotations

import math

import pytest

from osm_mesh.stat.compute import Workload, histogram_quantile, increase, workload_stats
from osm_mesh.stat.samples import parse_reading

API = Workload("shop", "Deployment", "api")


def test_increase_counts_a_reset_from_zero():
    assert increase(5, 12) == 7
    assert increase(None, 4) == 4
    assert increase(50, 3) == 3  # the sidecar restarted


@pytest.mark.parametrize(
    "q, expected",
    [
        (0.5, 1.5),  # rank 50 lies in (1, 2], 25 below it: 1 + 1 * (50 - 25) / 50
        (0.9, 4.25),  # rank 90 lies in (2, 5], 75 below it: 2 + 3 * (90 - 75) / 20
        (0.25, 1.0),  # exactly the top of the first bucket
    ],
)
def test_histogram_quantile_interpolates_like_prometheus(q, expected):
    buckets = {1.0: 25, 2.0: 75, 5.0: 95, math.inf: 100}
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edges():
    assert histogram_quantile(0.99, {}) is None
    assert histogram_quantile(0.99, {1.0: 0, math.inf: 0}) is None
    # Everything above the last finite bound: that bound is the answer (as Prometheus).
    assert histogram_quantile(0.99, {1.0: 0, 5.0: 1, math.inf: 10}) == 5.0
    # The first bucket starts at 0.
    assert histogram_quantile(0.5, {0.5: 10, math.inf: 10}) == pytest.approx(0.25)


def _text(requests_200: int, requests_503: int, buckets: dict[str, int], cx: int) -> str:
    labels = 'destination_namespace="shop",destination_kind="Deployment",destination_name="api"'
    lines = [
        "# TYPE osm_request_total counter",
        f'osm_request_total{{response_code="200",{labels}}} {requests_200}',
        f'osm_request_total{{response_code="503",{labels}}} {requests_503}',
        "# TYPE osm_request_duration_ms histogram",
        *(f'osm_request_duration_ms_bucket{{{labels},le="{le}"}} {n}' for le, n in buckets.items()),
        f"osm_request_duration_ms_count{{{labels}}} {max(buckets.values())}",
        "# TYPE envoy_listener_downstream_cx_active gauge",
        f'envoy_listener_downstream_cx_active{{envoy_listener_address="0.0.0.0_15003"}} {cx}',
        'envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_15001"} 9',
        "# TYPE envoy_cluster_upstream_rq counter",
        'envoy_cluster_upstream_rq{envoy_response_code="200"} 1000',
    ]
    return "\n".join(lines) + "\n"


def test_two_pods_summed_over_the_window():
    before = {
        "shop/api-1": parse_reading(_text(100, 0, {"1": 50, "5": 100, "+Inf": 100}, 1), 0.0, 15003),
        "shop/api-2": parse_reading(_text(10, 0, {"1": 10, "5": 10, "+Inf": 10}, 1), 0.0, 15003),
    }
    after = {
        "shop/api-1": parse_reading(
            _text(160, 20, {"1": 90, "5": 180, "+Inf": 180}, 2), 10.0, 15003
        ),
        "shop/api-2": parse_reading(_text(30, 0, {"1": 30, "5": 30, "+Inf": 30}, 1), 10.0, 15003),
        # A pod that started in the window: everything it counted is new.
        "shop/api-3": parse_reading(_text(5, 5, {"1": 10, "5": 10, "+Inf": 10}, 0), 10.0, 15003),
    }
    owners = {pod: API for pod in after}
    [stats] = workload_stats(before, after, pods_of={API: (3, 4)}, workload_of_pod=owners)
    # api-1: +60 ok +20 failed; api-2: +20 ok; api-3: 5 ok 5 failed.
    assert stats.requests == 110
    assert stats.failures == 25
    assert stats.success_rate == pytest.approx(85 / 110)
    assert stats.rps == pytest.approx(11.0)
    # Buckets: le=1 -> 40+20+10 = 70 of 110; le=5 -> 80+20+10 = 110.
    assert stats.quantiles[0.5] == pytest.approx(1.0 * 55 / 70)
    assert stats.quantiles[0.99] == pytest.approx(1 + 4 * (108.9 - 70) / 40)
    # Only the inbound listener (15003) counts; the outbound one (15001) does not.
    assert stats.tcp_connections == 3
    assert (stats.pods_meshed, stats.pods_total) == (3, 4)
    assert stats.as_dict()["successRate"] == round(85 / 110, 4)


def test_unregistered_namespace_names_are_read_too():
    text = _text(3, 0, {"1": 3, "+Inf": 3}, 0).replace(
        "osm_request", "envoy_wasmcustom_osm_request"
    )
    reading = parse_reading(text, 0.0, 15003)
    assert sum(reading.get("osm_request_total").values()) == 3


def test_a_workload_without_traffic_still_gets_a_row():
    idle = Workload("shop", "Deployment", "idle")
    [stats] = workload_stats({}, {}, pods_of={idle: (0, 2)})
    assert (stats.requests, stats.success_rate, stats.rps) == (0, None, None)
    assert (stats.pods_meshed, stats.pods_total) == (0, 2)
