"""Issue 11 item 9, by attacking: inside a pod, a wrong ``--context`` or ``--kubeconfig`` must
fail rather than fall back to the pod's own cluster.

Before: ``--context prdo`` (meant: prod) inside a pod loaded the in-cluster ServiceAccount and
talked to the pod's cluster. The pod is played by its environment: the Service variables
and the ServiceAccount token and CA files the kubernetes client reads.
"""

from __future__ import annotations

import pytest
from kubernetes.config import incluster_config

from osm_mesh.errors import ClusterUnreachable
from osm_mesh.kube.client import connect

POD_CLUSTER = "https://10.96.0.1:443"


@pytest.fixture
def inside_a_pod(tmp_path, monkeypatch):
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("pod-service-account-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return tmp_path


def test_a_mistyped_context_fails_instead_of_using_the_pods_cluster(inside_a_pod, kube_emulator):
    kubeconfig = kube_emulator.write_kubeconfig(inside_a_pod / "kc", context="prod")
    with pytest.raises(ClusterUnreachable) as err:
        connect(str(kubeconfig), context="prdo")
    assert "prdo" in err.value.message
    assert "--context" in err.value.hint


def test_a_context_without_any_kubeconfig_fails(inside_a_pod):
    with pytest.raises(ClusterUnreachable):
        connect(None, context="prod")


def test_a_broken_kubeconfig_fails(inside_a_pod):
    broken = inside_a_pod / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(ClusterUnreachable) as err:
        connect(str(broken))
    assert "Invalid kube-config file" in err.value.message


def test_with_neither_given_the_pods_service_account_is_used(inside_a_pod):
    kube = connect(None, None)
    assert kube.host == POD_CLUSTER
    assert kube.api_client.configuration.api_key["BearerToken"] == (
        "bearer pod-service-account-token"
    )


def test_the_cli_refuses_a_mistyped_context_in_a_pod(inside_a_pod, kube_emulator, osm):
    kubeconfig = kube_emulator.write_kubeconfig(inside_a_pod / "kc", context="prod")
    result = osm(["namespace", "list", "--context", "prdo"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: Could not load kubeconfig: ") and "prdo" in first
    assert "Traceback" not in result.stderr
