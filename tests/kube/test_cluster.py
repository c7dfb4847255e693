"""The local cluster itself: the real components, with the security settings a real cluster
has, and a life cycle that leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.realkube import binaries, cluster, netns
from tests.realkube.cluster import unique


def test_every_component_reports_the_pinned_release(real_cluster):
    version = real_cluster.kubectl_json("version")
    pinned = binaries.pinned_version()
    assert version["serverVersion"]["gitVersion"] == pinned
    assert version["clientVersion"]["gitVersion"] == pinned
    for name in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        out = subprocess.run(
            [str(binaries.binary(name)), "--version"], capture_output=True, text=True
        )
        assert out.stdout.split()[-1] == pinned, (name, out.stdout, out.stderr)


def test_pod_security_admission_rejects_a_privileged_pod(real_cluster):
    namespace = unique("psa-restricted")
    real_cluster.kubectl("create", "namespace", namespace)
    real_cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged", "namespace": namespace},
        "spec": {
            "containers": [{"name": "c", "image": "pause", "securityContext": {"privileged": True}}]
        },
    }
    result = real_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod), check=False)
    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr


@pytest.mark.parametrize("kind", ["Validating", "Mutating"])
def test_admission_webhooks_are_called(real_cluster, kind):
    """A webhook whose Service has no endpoints and failurePolicy Fail blocks the write:
    proof that the API server's webhook admission plugin is on."""
    name = unique(f"{kind.lower()}-probe")
    namespace = unique(f"webhook-{kind.lower()}")
    real_cluster.kubectl("create", "namespace", namespace)
    real_cluster.kubectl("label", "namespace", namespace, f"webhook-probe={name}")
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": f"{kind}WebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"{name}.osm.test",
                "clientConfig": {"service": {"name": "nowhere", "namespace": "default"}},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"webhook-probe": name}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 2,
            }
        ],
    }
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        result = real_cluster.kubectl("create", "configmap", "x", "-n", namespace, check=False)
        assert result.returncode != 0
        assert f'failed calling webhook "{name}.osm.test"' in result.stderr
        # Outside the selected namespace the write goes through.
        real_cluster.kubectl("create", "configmap", unique("outside"), "-n", "default")
    finally:
        real_cluster.kubectl("delete", f"{kind.lower()}webhookconfiguration", name)


def test_rbac_denies_a_service_account_without_roles(real_cluster, tmp_path):
    account = unique("nobody")
    real_cluster.kubectl("create", "serviceaccount", account, "-n", "default")
    kubeconfig = real_cluster.token_kubeconfig(tmp_path / "kc", "default", account)
    result = subprocess.run(
        [str(binaries.binary("kubectl")), "--kubeconfig", str(kubeconfig), "get", "secrets"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Forbidden" in result.stderr
    assert f'User "system:serviceaccount:default:{account}" cannot list resource "secrets"' in (
        result.stderr
    )


def test_node_authorizer_limits_the_kubelet_identity(real_cluster, tmp_path):
    """The kubelet's certificate (system:node:osm-node) may not read a Secret that no pod on
    its node uses: Node authorization and NodeRestriction are on."""
    secret = unique("unrelated")
    real_cluster.kubectl("create", "secret", "generic", secret, "-n", "default")
    node_kubeconfig = real_cluster.layout.component_kubeconfig("kubelet")
    config = json.loads(node_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = real_cluster.server
    local = tmp_path / "kubelet.kubeconfig"
    local.write_text(json.dumps(config))
    result = subprocess.run(
        [
            str(binaries.binary("kubectl")),
            "--kubeconfig",
            str(local),
            "get",
            "secret",
            secret,
            "-n",
            "default",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "no relationship found between node 'osm-node' and this object" in result.stderr


def test_a_crashed_api_server_is_restarted(real_cluster):
    name = unique("survives-restart")
    real_cluster.kubectl("create", "configmap", name, "-n", "default")
    seconds = real_cluster.restart("kube-apiserver")
    assert seconds < 60
    got = real_cluster.kubectl_json("get", "configmap", name, "-n", "default")
    assert got["metadata"]["name"] == name


def test_two_clusters_side_by_side_and_nothing_left_after_stop(real_cluster, tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("second"))
    second = cluster.start(root)
    try:
        assert second.api_port != real_cluster.api_port
        assert second.state["netns"] != real_cluster.state["netns"]
        second.kubectl("create", "namespace", "only-in-second")
        names = real_cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
        assert "namespace/only-in-second" not in names
        pids = [c["pid"] for c in second.state["components"].values()]
        namespace = second.state["netns"]
    finally:
        second.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)]
    assert namespace not in netns.stale_namespaces()
    assert second.state["status"] == "stopped"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
