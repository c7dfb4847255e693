"""`osm mesh upgrade`: Helm upgrade keeping the mesh name; MeshConfig follows the values."""

from __future__ import annotations

import pytest

from tests.cli.install.support import FAST, deployments, helm_path_env, release_secrets

pytestmark = [pytest.mark.helm, pytest.mark.slow]

MESH_CONFIG = ("config.openservicemesh.io/v1alpha2", "MeshConfig", "osm-mesh-config")


def _traffic(emu, namespace="osm-system"):
    return emu.get(*MESH_CONFIG, namespace)["spec"]["traffic"]


def test_upgrade_keeps_values_and_meshconfig_follows(osm, kube_emulator, kubeconfig):
    env = helm_path_env()
    assert (
        osm(["install", "--enable-grafana", *FAST], kubeconfig=kubeconfig, environ=env).exit_code
        == 0
    )
    assert _traffic(kube_emulator)["enablePermissiveTrafficPolicyMode"] is True
    password = kube_emulator.get("v1", "Secret", "osm-grafana", "osm-system")["data"]

    result = osm(
        ["mesh", "upgrade", *FAST, "--set", "osm.enablePermissiveTrafficPolicy=false"],
        kubeconfig=kubeconfig,
        environ=env,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "OSM successfully upgraded mesh [osm] in namespace [osm-system]\n"
    # Upstream created MeshConfig once and never again; here it follows the upgrade.
    assert _traffic(kube_emulator)["enablePermissiveTrafficPolicyMode"] is False
    # The install's choices (Grafana) are kept; the mesh name and enforcement too.
    assert "osm-grafana" in deployments(kube_emulator, "osm-system")
    controller = kube_emulator.get("apps/v1", "Deployment", "osm-controller", "osm-system")
    assert controller["metadata"]["labels"]["meshName"] == "osm"
    assert controller["metadata"]["labels"]["enforceSingleMesh"] == "true"
    assert release_secrets(kube_emulator, "osm-system")[-1] == "sh.helm.release.v1.osm.v2"
    # Helm's `lookup` found the generated Grafana password and kept it.
    assert kube_emulator.get("v1", "Secret", "osm-grafana", "osm-system")["data"] == password

    # --reset-values: upstream's behaviour, chart defaults + --set only.
    result = osm(
        ["mesh", "upgrade", *FAST, "--reset-values", "--set", "osm.enableEgress=false"],
        kubeconfig=kubeconfig,
        environ=env,
    )
    assert result.exit_code == 0, result.stderr
    assert "osm-grafana" not in deployments(kube_emulator, "osm-system")
    traffic = _traffic(kube_emulator)
    assert traffic["enableEgress"] is False
    assert traffic["enablePermissiveTrafficPolicyMode"] is True


def test_upgrade_of_a_missing_mesh(osm, kube_emulator, kubeconfig):
    result = osm(
        ["mesh", "upgrade", "--mesh-name", "nope"], kubeconfig=kubeconfig, environ=helm_path_env()
    )
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[0] == "Error: Did not find mesh [nope] in namespace [osm-system]"
    )
    assert kube_emulator.writes() == []


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--set", "osm.enableEgress"],
            'invalid format for --set: key "osm.enableEgress" has no value',
        ),
        (["--mesh-name", "-bad"], "invalid mesh name '-bad'"),
    ],
)
def test_upgrade_bad_input_no_cluster_contact(osm, kube_emulator, kubeconfig, args, message):
    result = osm(["mesh", "upgrade", *args], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 1
    assert message in result.stderr.splitlines()[0]
    assert kube_emulator.requests == []


def test_atomic_upgrade_rolls_back(osm, kube_emulator, kubeconfig):
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    kube_emulator.set_not_ready("deployments", "osm-system", "osm-controller", "CrashLoopBackOff")
    result = osm(
        ["mesh", "upgrade", "--atomic", "--timeout", "1s", "--set", "osm.enableEgress=false"],
        kubeconfig=kubeconfig,
        environ=env,
    )
    assert result.exit_code == 1
    assert "not ready: osm-controller (0/1 ready)" in result.stderr
    assert "CrashLoopBackOff" in result.stderr
    assert "Rolled back to revision 1 (--atomic)" in result.stderr
    # Revision 3 is the rollback to revision 1: MeshConfig is back to egress enabled.
    assert release_secrets(kube_emulator, "osm-system")[-1] == "sh.helm.release.v1.osm.v3"
    assert _traffic(kube_emulator)["enableEgress"] is True
