"""`osm uninstall mesh --dry-run`: every object it would delete or keep, the sidecars that stay,
and not one write to the cluster."""

from __future__ import annotations

import json

import pytest

from osm_mesh.helm.location import crd_names as chart_crds
from tests.cli.install.support import FAST, deployments, helm_path_env, seed_controller
from tests.cli.uninstall.test_mesh import _ca_secret, _webhook

pytestmark = [pytest.mark.helm, pytest.mark.slow]


def _meshed_app(emu, namespace="bookstore", mesh="osm"):
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"openservicemesh.io/monitored-by": mesh}},
        }
    )
    for name, uuid in (("bookstore-0", "9c1d5b2e-0000-4000-8000-000000000001"), ("plain", None)):
        labels = {"app": "bookstore"}
        if uuid:
            labels["osm-proxy-uuid"] = uuid
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"containers": [{"name": "app", "image": "bookstore"}]},
            }
        )


def _rows(stdout: str) -> list[list[str]]:
    """The first table's rows, split on whitespace."""
    return [line.split() for line in stdout.split("\n\n")[0].splitlines()]


def test_dry_run_lists_release_leftovers_and_sidecars_without_writing(
    osm, kube_emulator, kubeconfig
):
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    _ca_secret(kube_emulator)
    _webhook(kube_emulator)
    _meshed_app(kube_emulator)
    kube_emulator.clear_requests()

    result = osm(["uninstall", "mesh", "--dry-run"], kubeconfig=kubeconfig, environ=env)
    assert result.exit_code == 0, result.stderr
    assert kube_emulator.writes() == []
    # No prompt: a dry run asks nothing.
    assert "[y/n]" not in result.stderr
    assert "nothing was changed" in result.stderr
    rows = _rows(result.stdout)
    assert rows[0] == ["ACTION", "KIND", "NAMESPACE", "NAME", "WHY"]
    assert [
        "delete",
        "Deployment",
        "osm-system",
        "osm-controller",
        "Helm",
        "release",
        "osm",
    ] in rows
    assert ["delete", "Deployment", "osm-system", "osm-injector", "Helm", "release", "osm"] in rows
    assert any(r[:3] == ["delete", "Secret", "osm-system"] and r[3].startswith("sh.helm.release")
               for r in rows)  # fmt: skip
    # Without -a the CRDs, the webhook and the CA stay, and say why.
    kept = {(r[1], r[3]) for r in rows if r[0] == "keep"}
    assert ("MutatingWebhookConfiguration", "osm-webhook-osm") in kept
    assert ("Secret", "osm-ca-bundle") in kept
    assert {("CustomResourceDefinition", name) for name in chart_crds()} <= kept
    # The meshed pod keeps its sidecar; the plain one is not listed.
    assert "bookstore  bookstore-0  osm   Running" in result.stdout
    assert "plain" not in result.stdout.split("restarted:")[1]
    assert "osm namespace remove" in result.stderr
    # And it all really is still there.
    assert deployments(kube_emulator, "osm-system") == ["osm-controller", "osm-injector"]


def test_dry_run_all_and_namespace_as_json(osm, kube_emulator, kubeconfig):
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    _ca_secret(kube_emulator)
    _webhook(kube_emulator)
    kube_emulator.clear_requests()
    result = osm(
        ["uninstall", "mesh", "--dry-run", "-a", "--delete-namespace", "-o", "json"],
        kubeconfig=kubeconfig,
        environ=env,
    )
    assert result.exit_code == 0, result.stderr
    assert kube_emulator.writes() == []
    data = json.loads(result.stdout)
    assert data["dryRun"] is True
    assert [m["name"] for m in data["meshes"]] == ["osm"]
    deleted = {(o["kind"], o["name"]) for o in data["objects"] if o["action"] == "delete"}
    assert ("MutatingWebhookConfiguration", "osm-webhook-osm") in deleted
    assert ("Secret", "osm-ca-bundle") in deleted
    assert ("Namespace", "osm-system") in deleted
    assert {("CustomResourceDefinition", name) for name in chart_crds()} <= deleted
    assert data["sidecars"] == []

    # The real run with the same flags deletes what the dry run listed as deleted.
    real = osm(
        ["uninstall", "mesh", "-f", "-a", "--delete-namespace"], kubeconfig=kubeconfig, environ=env
    )
    assert real.exit_code == 0, real.stderr
    for kind, name in deleted:
        # Both go asynchronously (Terminating first), as on a real cluster.
        if kind == "CustomResourceDefinition":
            assert kube_emulator.wait_gone("apiextensions.k8s.io/v1", kind, name)
        if kind == "Namespace":
            assert kube_emulator.wait_gone("v1", kind, name)


def test_dry_run_keeps_crds_another_mesh_uses(osm, kube_emulator, kubeconfig):
    env = helm_path_env()
    assert osm(["install", *FAST], kubeconfig=kubeconfig, environ=env).exit_code == 0
    seed_controller(kube_emulator, "other", "other-system", enforce_single_mesh=False)
    result = osm(
        ["uninstall", "mesh", "--dry-run", "-a", "-o", "json"], kubeconfig=kubeconfig, environ=env
    )
    assert result.exit_code == 0, result.stderr
    crds = [o for o in json.loads(result.stdout)["objects"] if o["kind"].startswith("CustomRes")]
    assert crds and all(o["action"] == "keep" for o in crds)
    assert all("[other]" in o["reason"] for o in crds)


def test_dry_run_refuses_what_the_real_run_refuses(osm, kube_emulator, kubeconfig):
    seed_controller(kube_emulator, "osm", "osm-system")
    env = helm_path_env()
    missing = osm(
        ["uninstall", "mesh", "--dry-run", "--mesh-name", "nope"],
        kubeconfig=kubeconfig,
        environ=env,
    )
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: Did not find mesh [nope] in namespace [osm-system]")


def test_dry_run_with_nothing_installed(osm, kube_emulator, kubeconfig):
    result = osm(["uninstall", "mesh", "--dry-run"], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 0
    assert result.stdout == "No OSM control planes found: nothing would be deleted\n"
    assert kube_emulator.writes() == []


def test_output_format_needs_dry_run(osm, kube_emulator, kubeconfig):
    result = osm(["uninstall", "mesh", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 2
    assert "needs --dry-run" in result.stderr
    assert kube_emulator.writes() == []
