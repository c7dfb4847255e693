"""`osm metrics enable|disable --namespace NS...`."""

from __future__ import annotations

import pytest

from osm_mesh import labels as L
from tests.cli import kube_seed as seed

SCRAPE = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": "15010",
    "prometheus.io/path": "/stats/prometheus",
}


@pytest.fixture
def meshed(kube_emulator):
    seed.mesh(kube_emulator)
    for name in ("bookstore", "bookbuyer"):
        seed.namespace(kube_emulator, name, labels={L.MONITORED_BY_LABEL: "osm"})
    seed.meshed_pod(kube_emulator, "bookstore", "bookstore-v1")
    seed.workload(kube_emulator, "Deployment", "bookstore", "plain")  # pods without a sidecar
    return kube_emulator


def _pod_annotations(emu, ns, name):
    return emu.get("v1", "Pod", name, ns)["metadata"].get("annotations") or {}


def test_enable_annotates_namespace_and_meshed_pods_only(osm, meshed, kubeconfig):
    result = osm(["metrics", "enable", "--namespace", "bookstore,bookbuyer"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Metrics successfully enabled in namespace [bookstore]",
        "Metrics successfully enabled in namespace [bookbuyer]",
    ]
    assert seed.ns_meta(meshed, "bookstore")[1][L.METRICS_ANNOTATION] == "enabled"
    assert _pod_annotations(meshed, "bookstore", "bookstore-v1") == SCRAPE
    plain = [
        p for p in meshed.list("v1", "Pod", "bookstore") if p["metadata"]["name"] != "bookstore-v1"
    ]
    for pod in plain:
        assert "prometheus.io/scrape" not in (pod["metadata"].get("annotations") or {})


def test_disable_removes_what_enable_added(osm, meshed, kubeconfig):
    osm(["metrics", "enable", "--namespace", "bookstore"], kubeconfig=kubeconfig)
    result = osm(["metrics", "disable", "--namespace", "bookstore"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Metrics successfully disabled in namespace [bookstore]\n"
    assert L.METRICS_ANNOTATION not in seed.ns_meta(meshed, "bookstore")[1]
    assert _pod_annotations(meshed, "bookstore", "bookstore-v1") == {}


def test_namespace_outside_any_mesh_is_refused_before_writes(osm, meshed, kubeconfig):
    seed.namespace(meshed, "plain")
    meshed.clear_requests()
    result = osm(
        ["metrics", "enable", "--namespace", "bookstore", "--namespace", "plain"],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Namespace [plain] does not belong to a mesh, missing label "
        '"openservicemesh.io/monitored-by"'
    )
    assert meshed.writes() == []


def test_namespace_of_a_vanished_mesh(osm, meshed, kubeconfig):
    seed.namespace(meshed, "orphan", labels={L.MONITORED_BY_LABEL: "gone"})
    result = osm(["metrics", "enable", "--namespace", "orphan"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert "belongs to mesh [gone], which does not exist" in result.stderr


def test_namespace_option_is_required(osm, kube_emulator, kubeconfig):
    result = osm(["metrics", "enable"], kubeconfig=kubeconfig)
    assert result.exit_code == 2
    assert kube_emulator.requests == []
