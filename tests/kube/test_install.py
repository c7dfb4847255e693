"""`osm install`, `osm mesh upgrade` and `osm uninstall mesh` against the real API server, with
the real `helm`. The control-plane-only cluster's stand-in node (tests/realkube/fakenode.py)
reports pods ready, so the CLI's own wait completes; nothing runs (tests/e2e runs them)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tests.cli.install.support import helm_path_env
from tests.realkube import probe

pytestmark = [pytest.mark.helm, pytest.mark.slow]

SMI_CRDS = {
    "traffictargets.access.smi-spec.io",
    "httproutegroups.specs.smi-spec.io",
    "tcproutes.specs.smi-spec.io",
    "udproutes.specs.smi-spec.io",
    "trafficsplits.split.smi-spec.io",
    "meshconfigs.config.openservicemesh.io",
    "retries.policy.openservicemesh.io",
    "upstreamtrafficsettings.policy.openservicemesh.io",
    "faultinjections.policy.openservicemesh.io",
}


def _osm(osm, real_cluster, *args: str, stdin: str = ""):
    return osm(list(args), kubeconfig=real_cluster.kubeconfig, environ=helm_path_env(), stdin=stdin)


def _crds(real_cluster) -> dict[str, dict]:
    items = real_cluster.kubectl_json("get", "crd")["items"]
    return {c["metadata"]["name"]: c for c in items}


def _established(crd: dict) -> bool:
    conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
    return conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True"


def _names(real_cluster, kind: str, namespace: str | None = None) -> list[str]:
    args = ["get", kind, "-o", "name"] + (["-n", namespace] if namespace else [])
    return sorted(real_cluster.kubectl(*args).stdout.split())


@pytest.fixture
def uninstalled(osm, real_cluster):
    """Whatever a test installed is removed completely afterwards."""
    yield
    _osm(
        osm,
        real_cluster,
        "uninstall",
        "mesh",
        "-f",
        "-a",
        "--delete-namespace",
        "--mesh-name",
        "osm",
    )
    real_cluster.kubectl(
        "delete", "namespace", "osm-system", "--ignore-not-found", "--wait=true", timeout=300
    )
    assert probe.wait_until(lambda: not SMI_CRDS & set(_crds(real_cluster)), timeout=300)


def test_dry_run_output_is_accepted_by_server_side_dry_run(osm, real_cluster):
    result = _osm(osm, real_cluster, "install", "--dry-run", "--enable-grafana", "--deploy-jaeger")
    assert result.exit_code == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in documents if d["kind"] != "CustomResourceDefinition"]
    assert {c["metadata"]["name"] for c in crds} == SMI_CRDS
    # The CRDs themselves through the server's dry run (structural schema checks included) ...
    checked = real_cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(crds), check=False
    )
    assert checked.returncode == 0, checked.stderr
    # ... and everything else, which needs the CRDs served (MeshConfig) and the namespace.
    real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(crds))
    real_cluster.kubectl("create", "namespace", "osm-system")
    try:
        checked = real_cluster.kubectl(
            "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(rest), check=False
        )
        assert checked.returncode == 0, checked.stderr
        kinds = {line.split()[0].split("/")[0] for line in checked.stdout.splitlines()}
        assert {"deployment.apps", "meshconfig.config.openservicemesh.io"} <= kinds
    finally:
        real_cluster.kubectl("delete", "namespace", "osm-system", "--wait=true")
        real_cluster.kubectl("delete", "-f", "-", input=yaml.safe_dump_all(crds))


def test_install_upgrade_uninstall_keep_and_remove_what_the_docs_say(
    osm, real_cluster, uninstalled
):
    result = _osm(osm, real_cluster, "install", "--enable-grafana", "--timeout", "90s")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout
        == "OSM installed successfully in namespace [osm-system] with mesh name [osm]\n"
    )

    crds = _crds(real_cluster)
    assert set(crds) >= SMI_CRDS
    assert all(_established(crds[name]) for name in SMI_CRDS)
    # Every SMI version the chart declares is served by the real server.
    served = {
        v["name"]
        for v in crds["traffictargets.access.smi-spec.io"]["spec"]["versions"]
        if v["served"]
    }
    assert {"v1alpha1", "v1alpha2", "v1alpha3"} <= served
    mesh_config = real_cluster.kubectl_json(
        "get", "meshconfig", "osm-mesh-config", "-n", "osm-system"
    )
    assert mesh_config["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] is True
    assert _names(real_cluster, "deployments", "osm-system") == [
        "deployment.apps/osm-controller",
        "deployment.apps/osm-grafana",
        "deployment.apps/osm-injector",
        "deployment.apps/osm-prometheus",
    ]
    roles = _names(real_cluster, "clusterroles")
    assert any("osm-controller" in r for r in roles)

    # A second install is refused before any write.
    again = _osm(osm, real_cluster, "install")
    assert again.exit_code == 1
    assert again.stderr.splitlines()[0] == (
        "Error: Mesh osm already exists in cluster. "
        "Please specify a new mesh name using --mesh-name"
    )

    # Upgrade: MeshConfig follows the values; Grafana (installed by the first command) stays.
    upgraded = _osm(
        osm,
        real_cluster,
        "mesh",
        "upgrade",
        "--set",
        "osm.enablePermissiveTrafficPolicy=false",
        "--timeout",
        "90s",
    )
    assert upgraded.exit_code == 0, upgraded.stderr
    mesh_config = real_cluster.kubectl_json(
        "get", "meshconfig", "osm-mesh-config", "-n", "osm-system"
    )
    assert mesh_config["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] is False
    assert "deployment.apps/osm-grafana" in _names(real_cluster, "deployments", "osm-system")

    # Uninstall without -a: only the release goes; CRDs stay (osm#3760), as documented.
    removed = _osm(osm, real_cluster, "uninstall", "mesh", "-f")
    assert removed.exit_code == 0, removed.stderr
    assert _names(real_cluster, "deployments", "osm-system") == []
    assert set(_crds(real_cluster)) >= SMI_CRDS
    assert "namespace/osm-system" in _names(real_cluster, "namespaces")

    # Nothing left to uninstall: said so, exit 0.
    nothing = _osm(osm, real_cluster, "uninstall", "mesh", "-f")
    assert nothing.exit_code == 0
    assert "No OSM control planes found" in nothing.stdout + nothing.stderr


def test_uninstall_all_with_namespace_leaves_no_mesh_object(osm, real_cluster, uninstalled):
    result = _osm(
        osm, real_cluster, "install", "--enable-grafana", "--deploy-jaeger", "--timeout", "90s"
    )
    assert result.exit_code == 0, result.stderr
    removed = _osm(osm, real_cluster, "uninstall", "mesh", "-f", "-a", "--delete-namespace")
    assert removed.exit_code == 0, removed.stderr
    # CRD deletion is asynchronous on a real server (the customresourcecleanup finalizer
    # deletes the stored objects first, of every test in this session's cluster); the emulator
    # deleted them at once. Seconds here; minutes were seen at load average 40.
    assert probe.wait_until(lambda: not SMI_CRDS & set(_crds(real_cluster)), timeout=300)
    namespaces = real_cluster.kubectl_json("get", "namespaces")["items"]
    osm_system = [n for n in namespaces if n["metadata"]["name"] == "osm-system"]
    # Deleted, or still terminating (the namespace controller empties it first).
    assert not osm_system or osm_system[0]["status"]["phase"] == "Terminating"
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        assert not [n for n in _names(real_cluster, kind) if "osm" in n], kind
    leftovers = [n for n in _names(real_cluster, "clusterroles") if "osm" in n]
    assert leftovers == []
    bindings = [n for n in _names(real_cluster, "clusterrolebindings") if "osm" in n]
    assert bindings == []


def test_install_output_json_names_the_workloads(osm, real_cluster, uninstalled):
    result = _osm(osm, real_cluster, "install", "--timeout", "90s", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["meshName"] == "osm" and report["namespace"] == "osm-system"
    assert report["revision"] == 1
    assert sorted(report["workloads"]) == ["osm-controller", "osm-injector"]
    assert set(report["workloads"].values()) == {"1/1 ready"}, report


def test_kubectl_sees_what_helm_recorded(osm, real_cluster, uninstalled):
    result = _osm(osm, real_cluster, "install", "--timeout", "90s")
    assert result.exit_code == 0, result.stderr
    helm = subprocess.run(
        ["helm", "list", "-n", "osm-system", "-o", "json"],
        env=real_cluster.env(PATH=helm_path_env()["PATH"]),
        capture_output=True,
        text=True,
        check=True,
    )
    releases = json.loads(helm.stdout)
    assert [(r["name"], r["status"]) for r in releases] == [("osm", "deployed")]
