"""`osm install` against the API emulator, with the real `helm` binary doing the install."""

from __future__ import annotations

import json

import pytest

from tests.cli.install.support import (
    FAST,
    crd_names,
    deployments,
    helm_path_env,
    never_ready,
    release_secrets,
    seed_controller,
)

pytestmark = [pytest.mark.helm, pytest.mark.slow]


def test_article_install_enable_grafana(osm, kube_emulator, kubeconfig):
    result = osm(
        ["install", "--enable-grafana", *FAST], kubeconfig=kubeconfig, environ=helm_path_env()
    )
    assert result.exit_code == 0, result.stderr
    # Upstream's message, on stdout as upstream; progress on stderr.
    assert result.stdout == (
        "OSM installed successfully in namespace [osm-system] with mesh name [osm]\n"
    )
    lines = result.stderr.splitlines()
    # Plain progress (not a terminal): each component once it is ready.
    for name in ("osm-controller", "osm-injector", "osm-prometheus", "osm-grafana"):
        assert f"  {name}: ready" in lines
    assert deployments(kube_emulator, "osm-system") == [
        "osm-controller",
        "osm-grafana",
        "osm-injector",
        "osm-prometheus",
    ]
    assert release_secrets(kube_emulator, "osm-system") == ["sh.helm.release.v1.osm.v1"]
    assert "traffictargets.access.smi-spec.io" in crd_names(kube_emulator)
    mesh_config = kube_emulator.get(
        "config.openservicemesh.io/v1alpha2", "MeshConfig", "osm-mesh-config", "osm-system"
    )
    assert mesh_config["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] is True
    controller = kube_emulator.get("apps/v1", "Deployment", "osm-controller", "osm-system")
    assert controller["metadata"]["labels"]["enforceSingleMesh"] == "true"

    # Installing it again is refused before any write.
    kube_emulator.clear_requests()
    again = osm(["install"], kubeconfig=kubeconfig, environ=helm_path_env())
    assert again.exit_code == 1
    assert again.stderr.splitlines()[0] == (
        "Error: Mesh osm already exists in cluster. "
        "Please specify a new mesh name using --mesh-name"
    )
    assert kube_emulator.writes() == []


@pytest.mark.parametrize(
    "existing_enforces, args, message",
    [
        (
            True,
            ["--mesh-name", "osm"],
            "Error: Mesh osm already exists in cluster. Please specify a new mesh name using "
            "--mesh-name",
        ),
        (
            True,
            ["--mesh-name", "m2", "--osm-namespace", "other"],
            "Error: Cannot install mesh [m2]. Existing mesh [osm] enforces single mesh cluster.",
        ),
        (
            False,
            ["--mesh-name", "m2"],
            "Error: Namespace osm-system has an osm controller. Please specify a new namespace "
            "using --osm-namespace",
        ),
        (
            False,
            ["--mesh-name", "m2", "--osm-namespace", "other"],
            "Error: Meshes already exist in cluster. Cannot enforce single mesh cluster.",
        ),
    ],
)
def test_existing_mesh_refused_without_writes(
    osm, kube_emulator, kubeconfig, existing_enforces, args, message
):
    seed_controller(kube_emulator, "osm", "osm-system", enforce_single_mesh=existing_enforces)
    kube_emulator.clear_requests()
    result = osm(["install", *args], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == message
    assert kube_emulator.writes() == []


def test_second_mesh_without_single_mesh_enforcement(osm, kube_emulator, kubeconfig):
    seed_controller(kube_emulator, "osm", "osm-system", enforce_single_mesh=False)
    result = osm(
        [
            "install",
            "--mesh-name",
            "m2",
            "--osm-namespace",
            "m2-system",
            "--enforce-single-mesh=false",
            *FAST,
            "-o",
            "json",
        ],
        kubeconfig=kubeconfig,
        environ=helm_path_env(),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "OSM installed successfully in namespace [m2-system] with mesh name [m2]"
    )
    assert json.loads(result.stdout) == {
        "meshName": "m2",
        "namespace": "m2-system",
        "revision": 1,
        "workloads": {"osm-controller": "1/1 ready", "osm-injector": "1/1 ready"},
    }
    controller = kube_emulator.get("apps/v1", "Deployment", "osm-controller", "m2-system")
    assert controller["metadata"]["labels"]["meshName"] == "m2"
    assert "enforceSingleMesh" not in controller["metadata"]["labels"]


def test_timeout_says_what_is_not_ready_and_why(osm, kube_emulator, kubeconfig):
    never_ready(kube_emulator, "osm-system", "osm-controller", "ImagePullBackOff")
    result = osm(["install", "--timeout", "2s"], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 1
    err = result.stderr
    assert "Error: timed out after 2s: not ready: osm-controller (0/1 ready)" in err
    assert "timed out waiting for the condition" not in err
    assert "ImagePullBackOff" in err  # the container's waiting reason
    assert "pod osm-controller-" in err
    assert "osm mesh upgrade" in err  # what to do next
    # Without --atomic the release stays for the user to fix or remove.
    assert release_secrets(kube_emulator, "osm-system") == ["sh.helm.release.v1.osm.v1"]


def test_atomic_rolls_back_a_failed_install(osm, kube_emulator, kubeconfig):
    never_ready(kube_emulator, "osm-system", "osm-injector", "ErrImagePull")
    result = osm(
        ["install", "--timeout", "1s", "--atomic"], kubeconfig=kubeconfig, environ=helm_path_env()
    )
    assert result.exit_code == 1
    assert "not ready: osm-injector (0/1 ready)" in result.stderr
    assert "The release was uninstalled (--atomic)" in result.stderr
    assert deployments(kube_emulator, "osm-system") == []
    assert release_secrets(kube_emulator, "osm-system") == []


def test_progress_on_a_terminal(osm, kube_emulator, kubeconfig):
    result = osm(["install", *FAST], kubeconfig=kubeconfig, environ=helm_path_env(), tty=True)
    assert result.exit_code == 0, result.stderr
    assert "osm-controller" in result.stderr and "1/1 ready" in result.stderr
    assert result.stdout.startswith("OSM installed successfully in namespace [osm-system]")


def test_install_brings_old_crds_to_every_smi_version(osm, kube_emulator, kubeconfig):
    from tests.mesh.kube.test_crds import OSM_V12_TRAFFICTARGET

    kube_emulator.create(OSM_V12_TRAFFICTARGET)  # left behind by an OSM v1.2 install
    result = osm(["install", *FAST], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 0, result.stderr
    assert (
        "Updated CRD traffictargets.access.smi-spec.io (now also serves v1alpha1, v1alpha2)"
        in result.stderr.splitlines()
    )
    crd = kube_emulator.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "traffictargets.access.smi-spec.io"
    )
    assert [v["name"] for v in crd["spec"]["versions"] if v["served"]] == [
        "v1alpha1",
        "v1alpha2",
        "v1alpha3",
    ]
    # The article's v1alpha2 TrafficTarget is now accepted by the cluster.
    kube_emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}})
    from osm_mesh.kube.client import connect

    connect(kubeconfig=str(kubeconfig)).custom.create_namespaced_custom_object(
        "access.smi-spec.io", "v1alpha2", "app", "traffictargets",
        {"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget",
         "metadata": {"name": "api"}, "spec": {"destination": {"kind": "ServiceAccount",
                                                              "name": "api"}}},
    )  # fmt: skip
