"""The sidecars' request metrics on real Envoy: Flagger's names and labels, the 5xx it counts,
and `osm stat` reading them from a running local mesh."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from osm_mesh.local.demo import call_frontend
from osm_mesh.local.inputs import load_objects
from osm_mesh.local.runtime import LocalMesh
from osm_mesh.stat.collect import Scope, local_collector
from osm_mesh.stat.compute import workload_stats

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
PODINFO = Path(__file__).resolve().parents[2] / "data" / "flagger" / "podinfo.yaml"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SPLIT = {
    "apiVersion": "split.smi-spec.io/v1alpha2",
    "kind": "TrafficSplit",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {"service": "podinfo", "backends": []},
}


def podinfo_objects(canary_fail_percent: int = 0) -> list[dict]:
    objects = load_objects([PODINFO])
    if canary_fail_percent:
        [canary] = [
            o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "podinfo"
        ]
        key = "local.openservicemesh.io/command"
        canary["metadata"]["annotations"][key] += f" --fail-percent {canary_fail_percent}"
    return objects


def weights(canary: int) -> dict:
    split = json.loads(json.dumps(SPLIT))
    split["spec"]["backends"] = [
        {"service": "podinfo-canary", "weight": canary},
        {"service": "podinfo-primary", "weight": 100 - canary},
    ]
    return split


def scrape(pod) -> str:
    url = f"http://{pod.ip}:15000/stats/prometheus"
    _DIRECT.open(url, timeout=5).read()  # flush the histograms; the next read reports them
    return _DIRECT.open(url, timeout=5).read().decode()


def families(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        out.setdefault(family.name, []).extend(family.samples)
    return out


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    with LocalMesh(objects=podinfo_objects(canary_fail_percent=20),
                   work_dir=tmp_path_factory.mktemp("podinfo")) as running:  # fmt: skip
        yield running


def test_sidecar_exposes_flaggers_metric_names_and_labels(mesh):
    mesh.apply([weights(50)])
    loadtester = mesh.pod("test", "loadtester")
    answers = [call_frontend(loadtester)["status"] for _ in range(40)]
    assert set(answers) <= {200, 500} and answers.count(200) >= 20
    found = {}
    for deployment in ("podinfo", "podinfo-primary"):
        text = scrape(mesh.pod("test", deployment))
        assert "envoy_wasmcustom" not in text  # the stat namespace is registered
        fams = families(text)
        totals = [s for s in fams["osm_request"] if s.name == "osm_request_total"]
        assert totals, text[:2000]
        for sample in totals:
            assert set(sample.labels) == {
                "response_code",
                "source_identity",
                "destination_namespace",
                "destination_kind",
                "destination_name",
                "route",
            }
            assert sample.labels["route"] == "everything"  # the HTTPRouteGroup match met
            assert sample.labels["destination_namespace"] == "test"
            assert sample.labels["destination_kind"] == "Deployment"
            assert sample.labels["destination_name"] == deployment
            assert (
                sample.labels["source_identity"] == "spiffe://cluster.local/ns/test/sa/loadtester"
            )
        found[deployment] = {s.labels["response_code"]: s.value for s in totals}
        buckets = [s for s in fams["osm_request_duration_ms"] if s.name.endswith("_bucket")]
        assert {s.labels["le"] for s in buckets} >= {"0.5", "1", "2", "3", "7.5", "+Inf"}
        count = [s for s in fams["osm_request_duration_ms"] if s.name.endswith("_count")]
        assert sum(s.value for s in count) == sum(found[deployment].values())
    # Every answer the load tester got was counted once, by the pod that gave it; the canary
    # failing 20 % of its answers shows up as response_code 500, the primary never fails.
    assert sum(sum(codes.values()) for codes in found.values()) == 40
    assert set(found["podinfo-primary"]) == {"200"}
    assert found["podinfo"].get("500", 0) == answers.count(500) >= 1


def test_osm_stat_reads_the_local_mesh(mesh, osm):
    loadtester = mesh.pod("test", "loadtester")
    mesh.apply([weights(50)])
    collect = local_collector(mesh.state(), Scope("test"))
    before = collect()
    answers = [call_frontend(loadtester)["status"] for _ in range(60)]
    after = collect()
    by_name = {
        s.workload.name: s
        for s in workload_stats(
            before.readings,
            after.readings,
            pods_of=after.pods_of,
            workload_of_pod=after.workload_of_pod,
        )
    }
    canary, primary = by_name["podinfo"], by_name["podinfo-primary"]
    assert canary.requests + primary.requests == 60
    assert canary.failures == answers.count(500) >= 1
    assert primary.success_rate == 1.0 and canary.success_rate < 1.0
    assert canary.quantiles[0.99] is not None and canary.rps > 0
    assert (canary.pods_meshed, canary.pods_total) == (1, 1)
    assert primary.tcp_connections >= 1  # the load tester's sidecar keeps its connection open
    # The command itself, on the same mesh.
    result = osm(["stat", "--work-dir", mesh.state()["workDir"], "-n", "test", "--window", "1s"])
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99", "TCP_CONN",
    ]  # fmt: skip
    assert [r.split()[0] for r in rows] == ["loadtester", "podinfo", "podinfo-primary"]


ROUTES = [
    {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "podinfo-routes", "namespace": "test"},
        "spec": {
            "matches": [
                {"name": "values", "pathRegex": "/api/values", "methods": ["GET"]},
                {"name": "status", "pathRegex": "/status/.*", "methods": ["GET"]},
            ]
        },
    },
    {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": "loadtester-to-podinfo", "namespace": "test"},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": "podinfo", "namespace": "test"},
            "sources": [{"kind": "ServiceAccount", "name": "loadtester", "namespace": "test"}],
            "rules": [
                {
                    "kind": "HTTPRouteGroup",
                    "name": "podinfo-routes",
                    "matches": ["values", "status"],
                }
            ],
        },
    },
]


def test_osm_stat_routes_per_httproutegroup_match(mesh, osm):
    """Each allowed match is a named inbound route; its requests are counted under it."""
    mesh.apply([weights(0), *ROUTES])
    loadtester = mesh.pod("test", "loadtester")
    collect = local_collector(mesh.state(), Scope("test", "podinfo-primary"))
    before = collect()
    for _ in range(7):
        assert call_frontend(loadtester)["status"] == 200
    for _ in range(3):
        assert call_frontend(loadtester, "/status/503")["status"] == 503
    after = collect()
    [primary] = workload_stats(before.readings, after.readings, pods_of=after.pods_of, routes=True)
    assert set(primary.routes) == {"values", "status"}
    assert primary.routes["values"].requests == 7 and primary.routes["values"].failures == 0
    assert primary.routes["status"].requests == 3 and primary.routes["status"].failures == 3
    assert primary.routes["status"].quantiles[0.5] is not None
    result = osm(
        ["stat", "deploy/podinfo-primary", "--work-dir", mesh.state()["workDir"], "-n", "test",
         "--routes", "-w", "1s"]
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].split()[:3] == ["NAME", "ROUTE", "MESHED"]
