"""The namespace, metrics, policy and support commands against the real API server, with a
mesh installed by `osm install` (its pods reported ready by the stand-in node). `mesh list`
and `version`, which read the running controller through the API server's pod proxy, run on
the real node in tests/e2e."""

from __future__ import annotations

import json
import tarfile
import uuid

import pytest
import yaml

from osm_mesh import labels as L
from tests.cli.install.support import helm_path_env
from tests.realkube import probe
from tests.realkube.cluster import unique

pytestmark = [pytest.mark.helm, pytest.mark.slow, pytest.mark.timeout(600)]


def _osm(osm, real_cluster, *args: str):
    return osm(list(args), kubeconfig=real_cluster.kubeconfig, environ=helm_path_env())


@pytest.fixture(scope="module")
def mesh(real_cluster):
    """A mesh of its own (unique name and namespace, not enforcing a single mesh)."""
    from tests.conftest import run_osm

    name, namespace = unique("cmd"), unique("cmd-osm")
    result = run_osm(
        ["install", "--mesh-name", name, "--osm-namespace", namespace,
         "--enforce-single-mesh=false", "--timeout", "120s"],
        kubeconfig=real_cluster.kubeconfig, environ=helm_path_env(),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    yield {"name": name, "namespace": namespace}
    run_osm(
        ["uninstall", "mesh", "-f", "--mesh-name", name, "--osm-namespace", namespace,
         "--delete-namespace"],
        kubeconfig=real_cluster.kubeconfig, environ=helm_path_env(),
    )  # fmt: skip


def _namespace(real_cluster, name: str) -> dict:
    return real_cluster.kubectl_json("get", "namespace", name)["metadata"]


def test_namespace_add_list_ignore_remove(osm, real_cluster, mesh):
    first, second, ignored = unique("app"), unique("app"), unique("ignored")
    for ns in (first, second, ignored):
        real_cluster.kubectl("create", "namespace", ns)
    added = _osm(osm, real_cluster, "namespace", "add", first, second,
                 "--mesh-name", mesh["name"], "--enable-sidecar-injection")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    for ns in (first, second):
        meta = _namespace(real_cluster, ns)
        assert meta["labels"][L.MONITORED_BY_LABEL] == mesh["name"]
        assert meta["annotations"][L.SIDECAR_INJECTION_ANNOTATION] == "enabled"

    listed = _osm(osm, real_cluster, "namespace", "list", "--mesh-name", mesh["name"], "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    rows = {row["namespace"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {first, second}
    assert {row["mesh"] for row in rows.values()} == {mesh["name"]}

    ignore = _osm(osm, real_cluster, "namespace", "ignore", ignored)
    assert ignore.exit_code == 0, ignore.stderr
    assert _namespace(real_cluster, ignored)["labels"][L.IGNORE_LABEL] == "true"
    # An ignored namespace cannot join (upstream's rule), and nothing is written.
    refused = _osm(osm, real_cluster, "namespace", "add", ignored, "--mesh-name", mesh["name"])
    assert refused.exit_code != 0
    assert L.MONITORED_BY_LABEL not in _namespace(real_cluster, ignored).get("labels", {})

    removed = _osm(osm, real_cluster, "namespace", "remove", second, "--mesh-name", mesh["name"])
    assert removed.exit_code == 0, removed.stderr
    assert L.MONITORED_BY_LABEL not in _namespace(real_cluster, second).get("labels", {})
    listed = _osm(osm, real_cluster, "namespace", "list", "--mesh-name", mesh["name"], "-o", "json")
    assert [row["namespace"] for row in json.loads(listed.stdout)] == [first]


def _replica_sets(real_cluster, namespace: str) -> list[dict]:
    return real_cluster.kubectl_json("get", "replicasets", "-n", namespace)["items"]


def test_namespace_add_restart_rolls_out_a_new_replica_set(osm, real_cluster, mesh):
    """`--restart` is a rollout restart: kube-controller-manager really makes a new
    ReplicaSet and replaces the pods."""
    ns = unique("restart")
    real_cluster.kubectl("create", "namespace", ns)
    real_cluster.kubectl("create", "deployment", "web", "--image=web", "--replicas=2", "-n", ns)
    assert probe.wait_until(lambda: len(_replica_sets(real_cluster, ns)) == 1, timeout=60)
    before = {rs["metadata"]["name"] for rs in _replica_sets(real_cluster, ns)}
    added = _osm(osm, real_cluster, "namespace", "add", ns, "--mesh-name", mesh["name"],
                 "--enable-sidecar-injection", "--restart")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    deployment = real_cluster.kubectl_json("get", "deployment", "web", "-n", ns)
    assert "kubectl.kubernetes.io/restartedAt" in deployment["spec"]["template"]["metadata"].get(
        "annotations", {}
    )

    def rolled_out() -> bool:
        sets = _replica_sets(real_cluster, ns)
        new = [rs for rs in sets if rs["metadata"]["name"] not in before]
        old = [rs for rs in sets if rs["metadata"]["name"] in before]
        return (
            len(new) == 1
            and new[0]["status"].get("readyReplicas") == 2
            and all(rs["spec"]["replicas"] == 0 for rs in old)
        )

    assert probe.wait_until(rolled_out, timeout=120)


def test_metrics_enable_and_disable(osm, real_cluster, mesh):
    ns = unique("metrics")
    real_cluster.kubectl("create", "namespace", ns)
    assert (
        _osm(osm, real_cluster, "namespace", "add", ns, "--mesh-name", mesh["name"]).exit_code == 0
    )
    enabled = _osm(osm, real_cluster, "metrics", "enable", "--namespace", ns)
    assert enabled.exit_code == 0, enabled.stderr
    assert _namespace(real_cluster, ns)["annotations"][L.METRICS_ANNOTATION] == "enabled"
    disabled = _osm(osm, real_cluster, "metrics", "disable", "--namespace", ns)
    assert disabled.exit_code == 0, disabled.stderr
    assert L.METRICS_ANNOTATION not in _namespace(real_cluster, ns).get("annotations", {})
    # A namespace outside any mesh is refused with upstream's message, nothing written.
    outside = unique("outside")
    real_cluster.kubectl("create", "namespace", outside)
    refused = _osm(osm, real_cluster, "metrics", "enable", "--namespace", outside)
    assert refused.exit_code != 0
    assert L.METRICS_ANNOTATION not in _namespace(real_cluster, outside).get("annotations", {})


def _pod(real_cluster, ns: str, account: str) -> str:
    real_cluster.kubectl("create", "serviceaccount", account, "-n", ns)
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        # As the injector leaves it (no injector runs without a node): the proxy's UUID.
        "metadata": {"name": account, "namespace": ns,
                     "labels": {"app": account, L.PROXY_UUID_LABEL: str(uuid.uuid4())}},
        "spec": {"serviceAccountName": account, "containers": [{"name": "c", "image": "web"}]},
    }  # fmt: skip
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    return f"{ns}/{account}"


def test_policy_check_pods_reads_the_real_smi_objects(osm, real_cluster, mesh):
    ns = unique("policy")
    real_cluster.kubectl("create", "namespace", ns)
    assert (
        _osm(osm, real_cluster, "namespace", "add", ns, "--mesh-name", mesh["name"]).exit_code == 0
    )
    source, destination = _pod(real_cluster, ns, "web"), _pod(real_cluster, ns, "api")
    # The MeshConfig of this mesh says SMI mode: nothing allowed yet.
    real_cluster.kubectl(
        "patch", "meshconfig", "osm-mesh-config", "-n", mesh["namespace"], "--type=merge",
        "-p", '{"spec":{"traffic":{"enablePermissiveTrafficPolicyMode":false}}}',
    )  # fmt: skip
    denied = _osm(osm, real_cluster, "policy", "check-pods", source, destination,
                  "--osm-namespace", mesh["namespace"], "-o", "json")  # fmt: skip
    assert denied.exit_code == 0, denied.stdout + denied.stderr
    assert json.loads(denied.stdout)["allowed"] is False, denied.stdout
    smi = [
        {"apiVersion": "specs.smi-spec.io/v1alpha3", "kind": "HTTPRouteGroup",
         "metadata": {"name": "routes", "namespace": ns},
         "spec": {"matches": [{"name": "values", "pathRegex": "/api/values", "methods": ["GET"]}]}},
        {"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget",
         "metadata": {"name": "web-to-api", "namespace": ns},
         "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "namespace": ns},
                  "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["values"]}],
                  "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": ns}]}},
    ]  # fmt: skip
    real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(smi))
    allowed = _osm(osm, real_cluster, "policy", "check-pods", source, destination,
                   "--osm-namespace", mesh["namespace"], "-o", "json")  # fmt: skip
    result = json.loads(allowed.stdout)
    assert result["allowed"] is True, allowed.stdout
    assert "web-to-api" in json.dumps(result)


def test_support_bug_report_collects_from_the_real_api(osm, real_cluster, mesh, tmp_path):
    ns = unique("report")
    real_cluster.kubectl("create", "namespace", ns)
    assert (
        _osm(osm, real_cluster, "namespace", "add", ns, "--mesh-name", mesh["name"]).exit_code == 0
    )
    real_cluster.kubectl("create", "secret", "generic", "app-secret", "-n", ns,
                         "--from-literal=password=hunter2-do-not-leak")  # fmt: skip
    archive = tmp_path / "report.tar.gz"
    result = _osm(osm, real_cluster, "support", "bug-report", "--app-namespaces", ns,
                  "--osm-namespace", mesh["namespace"], "-o", str(archive))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        text = b"".join(
            tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.isfile()  # type: ignore[union-attr]
        )
    assert any(ns in n for n in names), names
    assert any("meshconfig" in n.lower() for n in names), names
    assert b"hunter2-do-not-leak" not in text
    assert b"-----BEGIN" not in text or b"PRIVATE KEY" not in text
