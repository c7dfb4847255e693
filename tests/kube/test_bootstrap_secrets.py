"""Bootstrap Secrets on the real API server (issue 11 item 3): with the chart's RBAC and the
RoleBinding `osm namespace add` makes, the controller (as its own ServiceAccount) makes the pod
the Secret's only owner and renews the certificate in it; the real garbage collector then
deletes the Secret with the pod. Where the RoleBinding is missing, the real API server refuses
and the controller says so.

The Secret is made by the injector's own admission code running as the injector's
ServiceAccount; the pod is the injected pod the API server would store.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
import yaml

from osm_mesh.certs.bootstrap import certificate_node_id
from osm_mesh.controller.bootstrap_secrets import BootstrapSecretKeeper, secret_certificate
from osm_mesh.controller.ca import ensure_ca
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.webhook import Injector
from osm_mesh.kube import bootstrap_rbac
from osm_mesh.kube.client import connect
from tests.chart.helpers import render
from tests.emulator.patch import json_patch
from tests.realkube.cluster import unique

pytestmark = [pytest.mark.helm, pytest.mark.timeout(300)]
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@pytest.fixture(scope="module")
def installed(real_cluster, tmp_path_factory):
    mesh, namespace = unique("bs"), unique("bs-osm")
    granted, refused = unique("bs-app"), unique("bs-plain")
    objects = [
        o for o in render({"osm": {"meshName": mesh}}, namespace, mesh) if o["kind"] in RBAC_KINDS
    ]
    real_cluster.kubectl("create", "namespace", namespace)
    for ns in (granted, refused):
        real_cluster.kubectl("create", "namespace", ns)
        real_cluster.kubectl("label", "namespace", ns, f"openservicemesh.io/monitored-by={mesh}")
        real_cluster.kubectl(
            "annotate", "namespace", ns, "openservicemesh.io/sidecar-injection=enabled"
        )
        real_cluster.kubectl("create", "serviceaccount", "web", "-n", ns)
    real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    admin = connect(str(real_cluster.kubeconfig))
    # What `osm namespace add` does for the first namespace only.
    bootstrap_rbac.grant(admin, mesh, granted, namespace)
    tmp = tmp_path_factory.mktemp("bs")
    controller = connect(
        str(real_cluster.token_kubeconfig(tmp / "controller", namespace, "osm-controller"))
    )
    injector = connect(
        str(real_cluster.token_kubeconfig(tmp / "injector", namespace, "osm-injector"))
    )
    ca, _origin = ensure_ca(controller, namespace, mesh_name=mesh)
    try:
        yield {
            "mesh": mesh,
            "namespace": namespace,
            "granted": granted,
            "refused": refused,
            "admin": admin,
            "controller": controller,
            "injector": injector,
            "ca": ca,
        }
    finally:
        cluster_scoped = [
            f"{o['kind'].lower()}/{o['metadata']['name']}"
            for o in objects
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding")
        ]
        real_cluster.kubectl("delete", "--ignore-not-found", *cluster_scoped, check=False)
        for ns in (namespace, granted, refused):
            real_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def inject(installed, real_cluster, namespace: str) -> tuple[dict, str]:
    """Admit a pod as the API server would ask the webhook, then store the injected pod.
    Returns (the stored pod, its bootstrap Secret's name)."""
    injector = Injector(
        installed["injector"],
        installed["ca"],
        InjectorSettings(mesh_name=installed["mesh"], osm_namespace=installed["namespace"]),
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": unique("web"), "namespace": namespace},
        "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "web"}]},
    }
    answer = injector.admit(
        {
            "uid": "1",
            "kind": {"kind": "Pod"},
            "operation": "CREATE",
            "namespace": namespace,
            "object": pod,
        }
    )
    assert answer["allowed"] and answer["patchType"] == "JSONPatch", answer
    patched = json_patch(pod, json.loads(base64.b64decode(answer["patch"])))
    created = real_cluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(patched))
    stored = json.loads(created.stdout)
    uuid = stored["metadata"]["labels"]["osm-proxy-uuid"]
    return stored, f"envoy-bootstrap-config-{uuid}"


class Pods:
    """The keeper's view of the catalog: the raw pods, as the controller's watch has them."""

    def __init__(self, kube, namespaces) -> None:
        self.kube, self.namespaces = kube, namespaces

    def raw(self, kind: str):
        assert kind == "Pod"
        client = self.kube.core.api_client
        return [
            client.sanitize_for_serialization(p)
            for ns in self.namespaces
            for p in self.kube.core.list_namespaced_pod(ns).items
        ]


def secret(real_cluster, namespace: str, name: str) -> dict | None:
    found = real_cluster.kubectl(
        "get", "secret", name, "-n", namespace, "-o", "json", "--ignore-not-found"
    ).stdout
    return json.loads(found) if found.strip() else None


def test_owned_by_the_pod_renewed_in_place_and_deleted_with_the_pod(installed, real_cluster):
    ns = installed["granted"]
    pod, name = inject(installed, real_cluster, ns)
    before = secret(real_cluster, ns, name)
    assert before is not None
    first = secret_certificate(before["data"])
    assert first is not None
    now = [dt.datetime.now(dt.UTC)]
    keeper = BootstrapSecretKeeper(
        installed["controller"],
        Pods(installed["controller"], [ns]),
        installed["ca"],
        trust_domain="cluster.local",
        clock=lambda: now[0],
    )
    assert keeper.keep_all() == 1 and not keeper.forbidden
    owned = secret(real_cluster, ns, name)
    assert owned is not None
    assert owned["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
    ]
    # Halfway through the certificate's life the controller writes a new one in place.
    now[0] += dt.timedelta(hours=13)
    assert keeper.keep_all() == 1
    renewed = secret_certificate(secret(real_cluster, ns, name)["data"])  # type: ignore[index]
    assert renewed is not None and renewed != first
    assert certificate_node_id(renewed) == certificate_node_id(first)
    # The real garbage collector deletes the Secret (and the key in it) with the pod.
    real_cluster.kubectl("delete", "pod", pod["metadata"]["name"], "-n", ns, "--wait=false")
    deadline = time.monotonic() + 60
    while secret(real_cluster, ns, name) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert secret(real_cluster, ns, name) is None


def test_without_the_rolebinding_the_api_server_refuses_and_the_controller_says_so(
    installed, real_cluster
):
    ns = installed["refused"]
    _pod, name = inject(installed, real_cluster, ns)
    keeper = BootstrapSecretKeeper(
        installed["controller"],
        Pods(installed["controller"], [ns]),
        installed["ca"],
        trust_domain="cluster.local",
    )
    assert keeper.keep_all() == 0
    assert set(keeper.forbidden) == {ns}
    left = secret(real_cluster, ns, name)
    assert left is not None and not left["metadata"].get("ownerReferences")
