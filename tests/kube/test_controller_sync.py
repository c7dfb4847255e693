"""The controller against the real API server, with the identity its pod would have (a
TokenRequest token of the chart's own ServiceAccount, with the chart's RBAC): it syncs 500
pods that kube-controller-manager creates, survives an API server crash that breaks its
watches and the replacement of a watch cache after etcd compaction (410 Gone / "storage is
(re)initializing"), and loses no object on the way."""

from __future__ import annotations

import json
import logging
import time

import pytest
import yaml

from osm_mesh.controller.app import Controller, ControllerSettings
from osm_mesh.kube.client import connect
from tests.chart.helpers import render
from tests.realkube.binaries import REPO
from tests.realkube.cluster import unique

pytestmark = [pytest.mark.helm, pytest.mark.slow, pytest.mark.timeout(600)]

PODS = 500


def _deployment(namespace: str, name: str, replicas: int) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": name,
                    "containers": [
                        {"name": name, "image": "web", "ports": [{"containerPort": 80}]}
                    ],
                },
            },
        },
    }


def _smi(namespace: str) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "api", "namespace": namespace},
         "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}},
        {"apiVersion": "specs.smi-spec.io/v1alpha3", "kind": "HTTPRouteGroup",
         "metadata": {"name": "routes", "namespace": namespace},
         "spec": {"matches": [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]}},
        {"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget",
         "metadata": {"name": "web-to-api", "namespace": namespace},
         "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "namespace": namespace},
                  "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}],
                  "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": namespace}]}},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def mesh(real_cluster, tmp_path_factory):
    """The chart's RBAC and CRDs for a unique mesh, an app namespace in it, and a kubeconfig
    with the osm-controller ServiceAccount's token."""
    name, namespace, app = unique("sync"), unique("sync-osm"), unique("sync-app")
    objects = render({"osm": {"meshName": name}}, namespace, name)
    rbac = [
        o
        for o in objects
        if o["kind"]
        in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    ]
    mesh_config = [o for o in objects if o["kind"] == "MeshConfig"]
    real_cluster.kubectl("apply", "-f", str(REPO / "templates" / "osm" / "crds"))
    real_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    real_cluster.kubectl("create", "namespace", namespace)
    real_cluster.kubectl("create", "namespace", app)
    real_cluster.kubectl("label", "namespace", app, f"openservicemesh.io/monitored-by={name}")
    real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac + mesh_config))
    for account in ("web", "api"):
        real_cluster.kubectl("create", "serviceaccount", account, "-n", app)
    kubeconfig = real_cluster.token_kubeconfig(
        tmp_path_factory.mktemp("sync") / "kubeconfig", namespace, "osm-controller"
    )
    yield {"mesh": name, "namespace": namespace, "app": app, "kubeconfig": kubeconfig}
    cluster_scoped = [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in rbac
                      if o["kind"].startswith("Cluster")]  # fmt: skip
    real_cluster.kubectl("delete", "--ignore-not-found", *cluster_scoped, check=False)
    for ns in (namespace, app):
        real_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _cluster_pods(real_cluster, namespace: str) -> set[str]:
    pods = real_cluster.kubectl_json("get", "pods", "-n", namespace)["items"]
    return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def _catalog_pods(controller: Controller, namespace: str) -> set[str]:
    return {p.name for p in controller.source.snapshot().pods if p.namespace == namespace}


def _wait(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def informer_log():
    logger = logging.getLogger("osm_mesh.catalog.kube_watch")
    handler, level = _Messages(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_controller_syncs_500_pods_and_survives_restart_and_410(mesh, real_cluster, informer_log):
    app = mesh["app"]
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(_deployment(app, "web", PODS)))
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(_deployment(app, "api", 2)))
    _wait(f"{PODS + 2} pods running", lambda: len(_cluster_pods(real_cluster, app)) == PODS + 2,
          timeout=300)  # fmt: skip

    settings = ControllerSettings(
        mesh_name=mesh["mesh"], osm_namespace=mesh["namespace"],
        ads_host="127.0.0.1", ads_port=0, http_host="127.0.0.1", http_port=0,
        debug_port=0, sync_timeout=120,
    )  # fmt: skip
    began = time.monotonic()
    controller = Controller(connect(str(mesh["kubeconfig"])), settings).start()
    try:
        synced_in = time.monotonic() - began
        assert _catalog_pods(controller, app) == _cluster_pods(real_cluster, app)
        print(f"controller ready with {PODS + 2} pods in {synced_in:.2f} s")

        # An SMI change reaches the catalog.
        real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(_smi(app)))
        _wait(
            "the TrafficTarget in the catalog",
            lambda: any(
                t.name == "web-to-api" for t in controller.source.snapshot().traffic_targets
            ),
        )

        # An updated CRD (what `osm install`/`osm mesh upgrade` do to older CRDs) makes the
        # API server replace that resource's watch cache: its watches end cleanly and are
        # resumed from their resourceVersion. With etcd's history compacted past it (the API
        # server compacts every 5 minutes), the real server answers the resumed watch with
        # 410 Gone once the new cache is up, or with "storage is (re)initializing" (429) while
        # it is being built -- which one depends on timing. Either way the informer must list
        # again, and lose nothing changed meanwhile.
        real_cluster.kubectl("create", "configmap", unique("bump"), "-n", app)
        real_cluster.compact_etcd()
        real_cluster.kubectl(
            "patch", "crd", "traffictargets.access.smi-spec.io", "--type=json", "-p",
            json.dumps([{"op": "add", "path": "/spec/versions/0/additionalPrinterColumns",
                         "value": [{"name": unique("Age"), "type": "date",
                                    "jsonPath": ".metadata.creationTimestamp"}]}]),
        )  # fmt: skip
        replaced = (
            "TrafficTarget watch expired; listing again",
            "watching TrafficTarget failed (storage is (re)initializing)",
        )
        _wait(
            "the TrafficTarget informer sees its watch cache replaced",
            lambda: any(m.startswith(replaced) for m in informer_log),
            timeout=90,
        )
        real_cluster.kubectl("delete", "traffictarget", "web-to-api", "-n", app)
        _wait(
            "the deletion after the relist",
            lambda: not controller.source.snapshot().traffic_targets,
        )
        print("informer saw:", [m for m in informer_log if m.startswith(replaced)])

        # A crashed API server (SIGKILL, restarted by the supervisor as systemd would): the
        # watches break, the informers list again; what changed meanwhile must not be lost.
        restart_s = real_cluster.restart("kube-apiserver")
        real_cluster.kubectl("scale", "deployment/web", "-n", app, f"--replicas={PODS + 20}")
        real_cluster.kubectl("create", "service", "clusterip", "late", "--tcp=80", "-n", app)
        _wait(
            f"{PODS + 22} pods running",
            lambda: len(_cluster_pods(real_cluster, app)) == PODS + 22,
            timeout=180,
        )
        _wait("the catalog follows the cluster after the restart", lambda: (
            _catalog_pods(controller, app) == _cluster_pods(real_cluster, app)
            and any(s.name == "late" for s in controller.source.snapshot().services)
        ), timeout=180)  # fmt: skip
        print(f"API server back in {restart_s:.1f} s; catalog caught up")
        assert controller.readiness() == (True, "ok")
    finally:
        controller.stop()


def test_the_informer_recognises_the_real_410(mesh, real_cluster):
    """The real server's 410 comes as an ERROR event inside a 200 watch stream (not as an
    HTTP 410): the informer's watch must turn it into a relist. A resourceVersion from before
    an API server restart is older than the new watch cache: 410 every time."""
    from osm_mesh.catalog.kube_watch import KubeSource, _Gone

    kube = connect(str(mesh["kubeconfig"]))
    source = KubeSource(kube, mesh_name=mesh["mesh"], osm_namespace=mesh["namespace"])
    pods = next(k for k in source._core_kinds() if k.kind == "Pod")
    old = kube.core.list_pod_for_all_namespaces(limit=1).metadata.resource_version
    real_cluster.kubectl("create", "configmap", unique("bump"), "-n", mesh["app"])
    real_cluster.restart("kube-apiserver")
    with pytest.raises(_Gone):
        source._watch(pods, old, time.monotonic() + 30)
