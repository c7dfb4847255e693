"""OSM's own bookstore demo manifests (tests/data/external, unmodified) through the controller
and the injector, as `kubectl apply` would put them in a cluster."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from osm_mesh.controller.app import Controller
from osm_mesh.injector.patch import InjectorSettings, decide, injection_patch
from osm_mesh.kube.client import connect
from tests.emulator.patch import json_patch
from tests.mesh.controller.conftest import settings

BOOKSTORE = Path(__file__).resolve().parents[2] / "data" / "external" / "osm-bookstore"
NAMESPACES = ("bookstore", "bookbuyer", "bookthief", "bookwarehouse")


def documents(*patterns: str) -> list[dict]:
    docs = []
    for pattern in patterns:
        for path in sorted(BOOKSTORE.glob(pattern)):
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_the_bookstore_demo_builds_the_catalog_upstream_users_expect(kube_emulator, kubeconfig):
    kube_emulator.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}}
    )
    for ns in NAMESPACES:
        kube_emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"openservicemesh.io/monitored-by": "osm"}},
            }
        )
    for doc in documents("apps-*.yaml", "access-traffic-access-v1.yaml"):
        kube_emulator.create(doc)
    (mesh_config,) = documents("meshconfig-*.yaml")
    mesh_config["metadata"]["namespace"] = "osm-system"  # the docs apply it with -n osm-system
    kube_emulator.create(mesh_config)

    controller = Controller(connect(str(kubeconfig)), settings()).start()
    try:
        assert controller.source is not None
        catalog = controller.source.snapshot()
    finally:
        controller.stop()
    assert catalog.monitored_namespaces == frozenset(NAMESPACES)
    assert {str(s) for s in catalog.services} >= {
        "bookstore/bookstore",
        "bookstore/bookstore-v1",
        "bookstore/bookstore-v2",
        "bookwarehouse/bookwarehouse",
    }
    assert {(t.namespace, t.name) for t in catalog.traffic_targets} >= {
        ("bookstore", "bookstore"),
        ("bookwarehouse", "bookstore-access-bookwarehouse"),
    }
    # The docs' MeshConfig (written as v1alpha1, read at the newest served version): permissive
    # on and egress off, both unlike the defaults.
    assert catalog.mesh_config.name == "osm-mesh-config"
    assert catalog.permissive is True and catalog.mesh_config.enable_egress is False
    assert [p for p in catalog.problems if p.severity == "error"] == []
    # Every Deployment's pods (and mysql's StatefulSet pod) are there, with the IPs endpoints
    # are built from.
    deployments = {
        d["metadata"]["name"] for d in documents("apps-*.yaml") if d["kind"] == "Deployment"
    }
    assert {p.deployment for p in catalog.pods} - {None} == deployments
    assert any(p.name.startswith("mysql-") for p in catalog.pods)
    assert all(p.ip for p in catalog.pods)


@pytest.mark.parametrize(
    "deployment",
    [d for d in documents("apps-*.yaml") if d["kind"] == "Deployment"],
    ids=lambda d: d["metadata"]["name"],
)
def test_every_bookstore_pod_template_is_injected_into_a_valid_pod(deployment):
    namespace = deployment["metadata"]["namespace"]
    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", **template}
    ns = {
        "metadata": {
            "name": namespace,
            "labels": {"openservicemesh.io/monitored-by": "osm"},
            "annotations": {"openservicemesh.io/sidecar-injection": "enabled"},
        }
    }
    settings_ = InjectorSettings(init_image="osm:1")
    assert decide(pod, ns, settings_).inject
    patched = json_patch(pod, injection_patch(pod, ns, settings_, "uuid-1"))
    patched["metadata"]["name"] = deployment["metadata"]["name"]
    assert [c["name"] for c in patched["spec"]["containers"]][-1] == "envoy"
    kubernetes_validate.validate(patched, kubernetes_validate.utils.latest_version(), strict=True)
