"""The chart's policy CRDs accept the documented samples and reject bad values; policies
stored in a cluster (the emulator, through the real client) reach the catalog."""

from __future__ import annotations

import copy
import time

import jsonschema
import pytest
import yaml

from osm_mesh.catalog.kube import catalog_from_cluster
from osm_mesh.catalog.kube_watch import KubeSource
from osm_mesh.helm.location import crd_documents
from osm_mesh.kube.client import connect
from osm_mesh.kube.crds import ensure_crds
from tests.chart.helpers import validate_custom
from tests.mesh.resilience.test_lint import doc_samples

POLICY = "policy.openservicemesh.io"


def samples() -> list[dict]:
    return [d for d in yaml.safe_load_all(doc_samples()) if d["apiVersion"].startswith(POLICY)]


def test_documented_samples_valid_against_the_crds():
    found = samples()
    assert sorted(o["kind"] for o in found) == ["FaultInjection", "Retry", "UpstreamTrafficSetting"]
    for obj in found:
        validate_custom(obj)


def _by_kind(kind: str) -> dict:
    return copy.deepcopy(next(o for o in samples() if o["kind"] == kind))


@pytest.mark.parametrize(
    "kind, mutate, why",
    [
        ("FaultInjection", lambda s: s["abort"].update(httpStatus=700), "greater than the maximum"),
        ("FaultInjection", lambda s: s["delay"].update(percentage=-1), "less than the minimum"),
        ("FaultInjection", lambda s: s.pop("host"), "'host' is a required"),
        ("UpstreamTrafficSetting", lambda s: s.update(requestTimeout="5 s"), "does not match"),
        ("UpstreamTrafficSetting", lambda s: s.update(timeout="5s"), "Additional properties"),
        ("Retry", lambda s: s["destinations"][0].update(kind="Pod"), "is not one of"),
        ("Retry", lambda s: s["retryPolicy"].update(numRetries="3"), "is not of type"),
    ],
)
def test_crds_reject_bad_values(kind, mutate, why):
    obj = _by_kind(kind)
    mutate(obj["spec"])
    with pytest.raises(jsonschema.ValidationError, match=why):
        validate_custom(obj)


def test_policies_read_from_a_cluster(kube_emulator, kubeconfig):
    kube = connect(kubeconfig=str(kubeconfig))
    ensure_crds(kube, crd_documents())
    kube_emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    for obj in samples():
        kube_emulator.create(obj)
    catalog = catalog_from_cluster(kube, ["shop"], None)
    assert [r.name for r in catalog.retries] == ["frontend-to-api"]
    assert [u.service for u in catalog.upstream_traffic_settings] == ["api"]
    assert [(f.name, f.abort.http_status) for f in catalog.fault_injections if f.abort] == [
        ("api-chaos", 503)
    ]


def test_controller_source_watches_policies_live(kube_emulator, kubeconfig):
    """The in-cluster controller's KubeSource sees a FaultInjection appear and go."""
    kube = connect(kubeconfig=str(kubeconfig))
    ensure_crds(kube, crd_documents())
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"openservicemesh.io/monitored-by": "osm"}},
        }
    )
    source = KubeSource(kube, mesh_name="osm", osm_namespace="osm-system").start()

    def wait_for(predicate) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    try:
        assert source.wait_synced(10)
        assert source.served["FaultInjection"] == f"{POLICY}/v1alpha1"
        fault = next(o for o in samples() if o["kind"] == "FaultInjection")
        kube_emulator.create(fault)
        assert wait_for(
            lambda: [f.name for f in source.snapshot().fault_injections] == ["api-chaos"]
        )
        kube_emulator.delete(fault["apiVersion"], "FaultInjection", "api-chaos", "shop")
        assert wait_for(lambda: source.snapshot().fault_injections == ())
        assert source.errors == 0
    finally:
        source.stop()
