"""`osm uninstall mesh`: the prompt, -f, -a, --delete-namespace, and "nothing to do"."""

from __future__ import annotations

import pytest

from osm_mesh.helm.location import crd_names as chart_crds
from tests.cli.install.support import (
    FAST,
    crd_names,
    deployments,
    helm_path_env,
    release_secrets,
    seed_controller,
)

pytestmark = [pytest.mark.helm, pytest.mark.slow]

PROMPT = "Uninstall OSM [mesh name: osm] in namespace [osm-system] and/or OSM resources? [y/n]: "


def _ca_secret(emu):
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "osm-ca-bundle", "namespace": "osm-system"},
            "data": {"ca.crt": "Y2E=", "private.key": "a2V5"},
        }
    )


def _webhook(emu, mesh="osm"):
    emu.create(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {
                "name": f"osm-webhook-{mesh}",
                "labels": {
                    "app.kubernetes.io/name": "openservicemesh.io",
                    "app.kubernetes.io/instance": mesh,
                    "app": "osm-injector",
                },
            },
            "webhooks": [],
        }
    )


def test_prompt_then_uninstall_keeps_policies(osm, kube_emulator, kubeconfig):
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    _ca_secret(kube_emulator)
    _webhook(kube_emulator)

    declined = osm(["uninstall", "mesh"], kubeconfig=kubeconfig, environ=env, stdin="n\n")
    assert declined.exit_code == 0
    assert "MESH NAME  MESH NAMESPACE  VERSION" in declined.stderr
    assert PROMPT in declined.stderr
    assert deployments(kube_emulator, "osm-system") == ["osm-controller", "osm-injector"]

    # Three answers that are neither y nor n: upstream's "Invalid input." and a no.
    confused = osm(["delete", "mesh"], kubeconfig=kubeconfig, environ=env, stdin="a\nb\nc\ny\n")
    assert confused.stderr.count("Invalid input.") == 3
    assert deployments(kube_emulator, "osm-system") != []

    result = osm(["uninstall", "mesh"], kubeconfig=kubeconfig, environ=env, stdin="maybe\ny\n")
    assert result.exit_code == 0, result.stderr
    assert "Invalid input." in result.stderr
    assert result.stdout == "OSM [mesh name: osm] in namespace [osm-system] uninstalled\n"
    assert deployments(kube_emulator, "osm-system") == []
    assert release_secrets(kube_emulator, "osm-system") == []
    # Without -a: CRDs (so every policy), the CA and the webhook stay (osm#3760).
    assert set(chart_crds()) <= set(crd_names(kube_emulator))
    assert kube_emulator.get("v1", "Secret", "osm-ca-bundle", "osm-system") is not None
    assert "`osm uninstall mesh -a` removes them" in result.stderr

    # -a on the second run removes what is left; a third run has nothing to do.
    cleanup = osm(["uninstall", "mesh", "-a", "-f"], kubeconfig=kubeconfig, environ=env)
    assert cleanup.exit_code == 0, cleanup.stderr
    assert "Deleted CustomResourceDefinition traffictargets.access.smi-spec.io" in cleanup.stderr
    assert "Deleted MutatingWebhookConfiguration osm-webhook-osm" in cleanup.stderr
    assert "Deleted Secret osm-system/osm-ca-bundle" in cleanup.stderr
    assert all(  # Terminating first, as on a real cluster
        kube_emulator.wait_gone("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        for name in chart_crds()
    )
    assert crd_names(kube_emulator) == []

    kube_emulator.clear_requests()
    again = osm(["uninstall", "mesh", "-a", "-f"], kubeconfig=kubeconfig, environ=env)
    assert again.exit_code == 0
    assert again.stdout == "No OSM control planes found\n"
    assert again.stderr == "Nothing to do: no mesh, and no cluster-wide resources left to delete\n"
    assert kube_emulator.writes() == []


def test_force_all_and_delete_namespace(osm, kube_emulator, kubeconfig):
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    result = osm(
        ["uninstall", "mesh", "--mesh-name", "osm", "-f", "-a", "--delete-namespace"],
        kubeconfig=kubeconfig,
        environ=env,
    )
    assert result.exit_code == 0, result.stderr
    assert PROMPT not in result.stderr
    assert result.stdout.splitlines() == [
        "OSM [mesh name: osm] in namespace [osm-system] uninstalled",
        "OSM namespace [osm-system] deleted successfully",
    ]
    assert kube_emulator.wait_gone("v1", "Namespace", "osm-system")  # Terminating first
    assert all(
        kube_emulator.wait_gone("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        for name in chart_crds()
    )
    assert crd_names(kube_emulator) == []


def test_nothing_installed(osm, kube_emulator, kubeconfig):
    result = osm(["uninstall", "mesh"], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 0
    assert result.stdout == "No OSM control planes found\n"
    assert kube_emulator.writes() == []


def test_named_mesh_missing(osm, kube_emulator, kubeconfig):
    seed_controller(kube_emulator, "osm", "osm-system")
    kube_emulator.clear_requests()
    result = osm(
        ["uninstall", "mesh", "--mesh-name", "other", "-f"],
        kubeconfig=kubeconfig,
        environ=helm_path_env(),
    )
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[0]
        == "Error: Did not find mesh [other] in namespace [osm-system]"
    )
    assert "[osm] in namespace [osm-system]" in result.stderr
    assert kube_emulator.writes() == []


def test_closed_stdin_needs_force(osm, kube_emulator, kubeconfig):
    seed_controller(kube_emulator, "osm", "osm-system")
    kube_emulator.clear_requests()
    result = osm(["uninstall", "mesh"], kubeconfig=kubeconfig, environ=helm_path_env(), stdin="")
    assert result.exit_code == 1
    assert "Error: no answer to the confirmation prompt" in result.stderr
    assert "Pass -f" in result.stderr
    assert kube_emulator.writes() == []


def test_crds_kept_while_another_mesh_uses_them(kube_emulator, kubeconfig):
    from osm_mesh.kube.client import connect
    from osm_mesh.kube.uninstall import delete_cluster_wide

    for name in chart_crds()[:2]:
        group = name.split(".", 1)[1]
        plural = name.split(".", 1)[0]
        kube_emulator.create(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": name},
                "spec": {
                    "group": group,
                    "scope": "Namespaced",
                    "names": {"plural": plural, "kind": plural.title(), "singular": plural},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {"openAPIV3Schema": {"type": "object"}},
                        }
                    ],
                },
            }
        )
    kube = connect(kubeconfig=str(kubeconfig))
    result = delete_cluster_wide(
        kube, "osm", "osm-system", "osm-ca-bundle", chart_crds(), other_meshes=["m2"]
    )
    assert result.deleted == []
    assert len(result.kept) == len(chart_crds())
    assert len(crd_names(kube_emulator)) == 2


@pytest.mark.parametrize("command", [["uninstall", "mesh", "-f"], ["mesh", "upgrade"]])
def test_unreachable_cluster(osm, tmp_path, command):
    from tests.cli.install.test_dry_run import UNREACHABLE_KUBECONFIG

    config = tmp_path / "kubeconfig"
    config.write_text(UNREACHABLE_KUBECONFIG)
    result = osm(command, kubeconfig=config, environ=helm_path_env())
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "Error: Could not access Kubernetes cluster, check kubeconfig"
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_release_without_controller(osm, kube_emulator, kubeconfig):
    """A half-removed mesh: the Helm release is there, its controller is not."""
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    kube_emulator.delete("apps/v1", "Deployment", "osm-controller", "osm-system")
    kube_emulator.clear_requests()
    again = osm(["install", *FAST], kubeconfig=kubeconfig, environ=env)
    assert again.exit_code == 1
    assert again.stderr.splitlines()[0] == (
        "Error: Helm release [osm] already exists in namespace [osm-system] (status deployed)"
    )
    assert kube_emulator.writes() == []
    # uninstall finds it through Helm even without a controller Deployment.
    result = osm(["uninstall", "mesh", "-f"], kubeconfig=kubeconfig, environ=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "OSM [mesh name: osm] in namespace [osm-system] uninstalled\n"
    assert release_secrets(kube_emulator, "osm-system") == []
