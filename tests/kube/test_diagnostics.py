"""`osm check`, `osm policy analyze` and `osm uninstall mesh --dry-run` against the real API
server (control plane only: the stand-in node reports pods ready, nothing runs, so no
injector ever registers its webhook or the controller its CA — which `osm check` must say)."""

from __future__ import annotations

import json

import pytest

from tests.cli.install.support import helm_path_env
from tests.kube.test_install import SMI_CRDS, uninstalled  # noqa: F401 - fixture
from tests.realkube.cluster import unique

pytestmark = [pytest.mark.helm, pytest.mark.slow]


def _osm(osm, real_cluster, *args: str, kubeconfig=None):
    return osm(
        list(args), kubeconfig=kubeconfig or real_cluster.kubeconfig, environ=helm_path_env()
    )


def test_check_pre_as_admin_and_as_an_unprivileged_account(osm, real_cluster, tmp_path):
    admin = _osm(osm, real_cluster, "check", "--pre", "-o", "json")
    assert admin.exit_code == 0, admin.stdout
    checks = {c["name"]: c for c in json.loads(admin.stdout)["checks"]}
    assert checks["Kubernetes version is supported"]["detail"].startswith("v1.37.")
    assert checks["can create what `osm install` creates"]["status"] == "ok"

    # A ServiceAccount with no RBAC: the real authorizer answers each SelfSubjectAccessReview.
    namespace = unique("nobody")
    real_cluster.kubectl("create", "namespace", namespace)
    try:
        real_cluster.kubectl("create", "serviceaccount", "viewer", "-n", namespace)
        config = real_cluster.token_kubeconfig(tmp_path / "kubeconfig", namespace, "viewer")
        denied = _osm(osm, real_cluster, "check", "--pre", kubeconfig=config)
        assert denied.exit_code == 1
        line = next(x for x in denied.stdout.splitlines() if "can create what" in x)
        assert line.startswith("✗ ") and "may not create namespaces" in line
        assert "customresourcedefinitions.apiextensions.k8s.io" in line
        # The conflicting-mesh check needs to list Deployments cluster-wide: refused, in one line.
        assert "Traceback" not in denied.stdout + denied.stderr
    finally:
        real_cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_installed_mesh_check_analyze_and_uninstall_dry_run(
    osm,
    real_cluster,
    uninstalled,  # noqa: F811 - fixture
):
    installed = _osm(osm, real_cluster, "install", "--timeout", "90s")
    assert installed.exit_code == 0, installed.stderr

    # The control plane as the real server sees it: Deployments ready (the stand-in node),
    # CRDs established, MeshConfig valid; no webhook and no CA (nothing ran to create them).
    check = _osm(osm, real_cluster, "check", "-o", "json")
    assert check.exit_code == 1
    status = {c["name"]: c["status"] for c in json.loads(check.stdout)["checks"]}
    assert status["osm-controller is ready"] == "ok"
    assert status["osm-injector is ready"] == "ok"
    assert status["mesh CRDs are served"] == "ok"
    assert status["MeshConfig is valid"] == "ok"
    assert status["sidecar-injection webhook is usable"] == "fail"
    assert status[next(n for n in status if n.startswith("mesh CA valid"))] == "fail"

    # A meshed namespace with a policy naming a missing route group, and a pod created
    # while no injector ran: analyze reports both from the live objects.
    namespace = unique("shop")
    real_cluster.kubectl("create", "namespace", namespace)
    assert _osm(osm, real_cluster, "namespace", "add", namespace).exit_code == 0
    real_cluster.kubectl("create", "serviceaccount", "api", "-n", namespace)
    # The pod runs as the namespace's "default" ServiceAccount, which kube-controller-manager
    # creates shortly after the namespace: admission refuses the pod until it exists.
    real_cluster.kubectl(
        "wait", "--for=create", "serviceaccount/default", "-n", namespace, "--timeout=60s"
    )
    real_cluster.kubectl(
        "run", "legacy", "-n", namespace, "--image=registry.local/none:1", "--restart=Never"
    )
    real_cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": "to-api", "namespace": namespace},
                "spec": {
                    "destination": {
                        "kind": "ServiceAccount",
                        "name": "api",
                        "namespace": namespace,
                    },
                    "sources": [
                        {"kind": "ServiceAccount", "name": "ghost", "namespace": namespace}
                    ],
                    "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}],
                },
            }
        ),
    )
    analyzed = _osm(osm, real_cluster, "policy", "analyze", "-n", namespace, "-o", "json")
    assert analyzed.exit_code == 1 and analyzed.stdout, analyzed.stderr
    found = {(f["code"], f["object"]) for f in json.loads(analyzed.stdout)["findings"]}
    assert ("OSM0310", f"TrafficTarget/{namespace}/to-api") in found  # no such route group
    assert ("OSM0306", f"TrafficTarget/{namespace}/to-api") in found  # no such ServiceAccount
    assert ("OSM0402", f"Pod/{namespace}/legacy") in found  # no sidecar

    # --dry-run lists what the real uninstall then deletes; nothing changes before.
    plan = _osm(osm, real_cluster, "uninstall", "mesh", "--dry-run", "-a", "-o", "json")
    assert plan.exit_code == 0, plan.stderr
    objects = json.loads(plan.stdout)["objects"]
    deleted = [o for o in objects if o["action"] == "delete"]
    assert {o["name"] for o in deleted if o["kind"] == "CustomResourceDefinition"} == SMI_CRDS
    for o in deleted:
        args = ["get", o["kind"].lower(), o["name"]] + (
            ["-n", o["namespace"]] if o["namespace"] else []
        )
        assert real_cluster.kubectl(*args, check=False).returncode == 0, o  # still there
    done = _osm(osm, real_cluster, "uninstall", "mesh", "-f", "-a")
    assert done.exit_code == 0, done.stderr
    for o in deleted:
        if o["kind"] == "CustomResourceDefinition":
            continue  # deletion is asynchronous (finalizers); test_install waits for it
        args = ["get", o["kind"].lower(), o["name"]] + (
            ["-n", o["namespace"]] if o["namespace"] else []
        )
        assert real_cluster.kubectl(*args, check=False).returncode != 0, o
    real_cluster.kubectl("delete", "namespace", namespace, "--wait=false")
