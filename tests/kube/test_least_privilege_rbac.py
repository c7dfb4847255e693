"""Issue 11 items 7 and 12 on the real API server: the chart's narrowed RBAC is enough for the
controller and the injector to do their work, what was taken away is really refused, and
the chart's NetworkPolicies are accepted.

The chart is rendered by the real `helm` with a unique mesh name and namespace; its
ServiceAccounts, roles, bindings and NetworkPolicies are applied as they would be installed;
then each process runs here, in this test, with a TokenRequest token of its own
ServiceAccount -- the identity its pod would have.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from osm_mesh.controller.app import Controller, ControllerSettings
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.service import InjectorService, InjectorServiceSettings
from osm_mesh.kube.client import connect
from tests.chart.helpers import render
from tests.realkube.cluster import unique

pytestmark = [pytest.mark.helm, pytest.mark.timeout(300)]

RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@pytest.fixture(scope="module")
def installed(real_cluster, tmp_path_factory):
    """The chart's RBAC and NetworkPolicies for a unique mesh; (mesh, namespace, app ns)."""
    mesh, namespace, app_ns = unique("lp"), unique("lp-osm"), unique("lp-app")
    values = {
        "osm": {
            "meshName": mesh,
            "networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.250.0.2/32"]},
        }
    }
    objects = [
        o for o in render(values, namespace, mesh) if o["kind"] in (*RBAC_KINDS, "NetworkPolicy")
    ]
    real_cluster.kubectl("create", "namespace", namespace)
    real_cluster.kubectl("create", "namespace", app_ns)
    real_cluster.kubectl("label", "namespace", app_ns, f"openservicemesh.io/monitored-by={mesh}")
    real_cluster.kubectl(
        "annotate", "namespace", app_ns, "openservicemesh.io/sidecar-injection=enabled"
    )
    real_cluster.kubectl("create", "serviceaccount", "web", "-n", app_ns)
    real_cluster.kubectl(
        "create", "secret", "generic", "other", "-n", namespace, "--from-literal=k=v"
    )
    applied = real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    tmp = tmp_path_factory.mktemp("rbac")
    try:
        yield {
            "mesh": mesh,
            "namespace": namespace,
            "app_ns": app_ns,
            "applied": applied.stdout,
            "controller": connect(
                str(real_cluster.token_kubeconfig(tmp / "controller", namespace, "osm-controller"))
            ),
            "injector": connect(
                str(real_cluster.token_kubeconfig(tmp / "injector", namespace, "osm-injector"))
            ),
        }
    finally:
        cluster_scoped = [
            f"{o['kind'].lower()}/{o['metadata']['name']}"
            for o in objects
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding")
        ]
        real_cluster.kubectl("delete", "--ignore-not-found", *cluster_scoped, check=False)
        real_cluster.kubectl(
            "delete",
            "mutatingwebhookconfiguration",
            f"osm-webhook-{mesh}",
            "--ignore-not-found",
            check=False,
        )
        for ns in (namespace, app_ns):
            real_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_network_policies_are_accepted(installed, real_cluster):
    assert "networkpolicy.networking.k8s.io/osm-injector created" in installed["applied"]
    policy = real_cluster.kubectl_json(
        "get", "networkpolicy", "osm-injector", "-n", installed["namespace"]
    )
    (webhook_rule, _metrics) = policy["spec"]["ingress"]
    assert webhook_rule["ports"] == [{"port": 9090, "protocol": "TCP"}]
    assert webhook_rule["from"] == [{"ipBlock": {"cidr": "10.250.0.2/32"}}]


def test_the_controller_runs_with_its_narrowed_rbac(installed):
    kube, ns = installed["controller"], installed["namespace"]
    settings = ControllerSettings(
        mesh_name=installed["mesh"],
        osm_namespace=ns,
        ads_host="127.0.0.1",
        ads_port=0,
        http_host="127.0.0.1",
        http_port=0,
        sync_timeout=60,
    )
    for attempt in ("creates the CA Secret", "reads it back by name"):
        controller = Controller(kube, settings).start()
        try:
            assert controller.readiness() == (True, "ok"), attempt
            assert controller.ca is not None
        finally:
            controller.stop()
    # What was taken away is refused by the real server.
    denied = [
        lambda: kube.core.patch_namespaced_secret(
            "osm-ca-bundle", ns, {"metadata": {"labels": {"x": "y"}}}
        ),
        lambda: kube.core.read_namespaced_secret("other", ns),
        lambda: kube.core.list_namespaced_secret(ns),
        lambda: kube.custom.list_namespaced_custom_object(
            "coordination.k8s.io", "v1", ns, "leases"
        ),
    ]
    for call in denied:
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 403


def test_the_injector_runs_with_its_narrowed_rbac(installed, real_cluster):
    kube, ns, app_ns = installed["injector"], installed["namespace"], installed["app_ns"]
    # The controller's part (test above, or here when run alone): the CA Secret.
    from osm_mesh.controller.ca import ensure_ca

    ensure_ca(installed["controller"], ns, mesh_name=installed["mesh"])
    service = InjectorService(
        kube,
        InjectorServiceSettings(
            injector=InjectorSettings(mesh_name=installed["mesh"], osm_namespace=ns),
            webhook_host="127.0.0.1",
            webhook_port=0,
            http_host="127.0.0.1",
            http_port=0,
            ca_wait_seconds=30,
        ),
    ).start()
    try:
        assert service.injector is not None
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "web-", "namespace": app_ns},
            "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "web"}]},
        }
        request = {
            "uid": "1",
            "kind": {"kind": "Pod"},
            "operation": "CREATE",
            "namespace": app_ns,
            "object": pod,
        }
        answer = service.injector.admit(request)
        assert answer["allowed"] and answer["patchType"] == "JSONPatch", answer
        secrets = real_cluster.kubectl_json("get", "secrets", "-n", app_ns)["items"]
        assert [s for s in secrets if s["metadata"]["name"].startswith("envoy-bootstrap-config-")]
        # A made-up ServiceAccount: refused (the read of it is allowed, it does not exist).
        pod["spec"]["serviceAccountName"] = "made-up"
        refused = service.injector.admit({**request, "uid": "2"})
        assert not refused["allowed"] and "does not exist" in refused["status"]["message"]
    finally:
        service.stop()
    config = real_cluster.kubectl_json(
        "get", "mutatingwebhookconfiguration", f"osm-webhook-{installed['mesh']}"
    )
    assert config["webhooks"][0]["failurePolicy"] == "Fail"
    for call in (
        lambda: kube.core.read_namespaced_secret("other", ns),
        lambda: kube.core.list_namespaced_secret(ns),
        lambda: kube.core.read_namespaced_secret(secrets[0]["metadata"]["name"], app_ns),
    ):
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 403, json.dumps(err.value.body)[:200]
