"""Existing CRDs (e.g. OSM v1.2's, serving one SMI version each) brought up to the chart's."""

from __future__ import annotations

import pytest

from osm_mesh.helm.location import crd_documents
from osm_mesh.kube.client import connect
from osm_mesh.kube.crds import ensure_crds

OSM_V12_TRAFFICTARGET = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "traffictargets.access.smi-spec.io", "labels": {"app": "osm"}},
    "spec": {
        "group": "access.smi-spec.io",
        "scope": "Namespaced",
        "names": {"kind": "TrafficTarget", "plural": "traffictargets", "singular": "traffictarget"},
        "versions": [
            {
                "name": "v1alpha3",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object"}},
            },
        ],
    },
}


@pytest.fixture
def kube(kubeconfig):
    return connect(kubeconfig=str(kubeconfig))


def _served(emu, name):
    crd = emu.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
    return {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}


def test_creates_missing_then_nothing_to_do(kube, kube_emulator):
    changes = ensure_crds(kube, crd_documents())
    assert [c.action for c in changes] == ["created"] * 9
    kube_emulator.clear_requests()
    assert ensure_crds(kube, crd_documents()) == []
    assert kube_emulator.writes() == []


def test_updates_old_crd_adding_versions_keeping_stored(kube, kube_emulator):
    kube_emulator.create(OSM_V12_TRAFFICTARGET)
    changes = {c.name: c for c in ensure_crds(kube, crd_documents())}
    tt = changes["traffictargets.access.smi-spec.io"]
    assert tt.action == "updated"
    assert tt.added_versions == ("v1alpha1", "v1alpha2")
    assert tt.describe() == (
        "Updated CRD traffictargets.access.smi-spec.io (now also serves v1alpha1, v1alpha2)"
    )
    served = _served(kube_emulator, "traffictargets.access.smi-spec.io")
    assert served == {
        "v1alpha1": (True, False),
        "v1alpha2": (True, False),
        "v1alpha3": (True, True),
    }
    crd = kube_emulator.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "traffictargets.access.smi-spec.io"
    )
    assert crd["metadata"]["labels"]["app"] == "osm"  # foreign labels kept
    assert crd["metadata"]["labels"]["app.kubernetes.io/name"] == "openservicemesh.io"


def test_versions_with_stored_objects_stay_served():
    from osm_mesh.kube.crds import _merged

    current = {
        "metadata": {"name": "traffictargets.access.smi-spec.io"},
        "spec": {
            "versions": [
                {"name": "v1beta9", "served": True, "storage": True, "schema": {}},
                {"name": "v1alpha3", "served": True, "storage": False, "schema": {}},
            ]
        },
        "status": {"storedVersions": ["v1beta9", "v1alpha3"]},
    }
    wanted = next(
        d for d in crd_documents() if d["metadata"]["name"] == current["metadata"]["name"]
    )
    versions = {v["name"]: v for v in _merged(wanted, current)["spec"]["versions"]}
    # The API server refuses to drop a stored version; ours becomes the storage one.
    assert versions["v1beta9"]["served"] is True and versions["v1beta9"]["storage"] is False
    assert [n for n, v in versions.items() if v["storage"]] == ["v1alpha3"]
