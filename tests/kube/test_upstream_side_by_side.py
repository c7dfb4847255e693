"""Drop-in, side by side (issue 9 item 5): upstream OSM v1.2.4's own `osm` CLI and control plane
(built from its Go module by `make upstream-osm`) and ours on the same real API server.

Both meshes are installed by their own CLIs, with their own charts; each control plane runs as
the process of its real Pod (tests/upstream/processpod.py) under its chart's ServiceAccount, so
`osm version` reaches it through the API server's pod proxy as on a cluster. Then each CLI reads
and changes the other's mesh. docs/upstream-comparison.md has the table these tests back.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.realkube import binaries
from tests.realkube.cluster import unique
from tests.upstream import UPSTREAM_COMMIT, UPSTREAM_VERSION, cluster_access, mesh
from tests.upstream import ours as our_mesh

pytestmark = [pytest.mark.helm, pytest.mark.slow, pytest.mark.timeout(900)]

OURS = Path(sys.executable).parent / "osm"
OUR_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+")


def ours(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(OURS), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def table(text: str, header: str) -> list[list[str]]:
    """The rows under the line starting with ``header`` (columns split on 2+ spaces), up to
    the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


@pytest.fixture(scope="module")
def side(real_cluster, tmp_path_factory):
    """Upstream's mesh and ours, installed by their own CLIs, both control planes running."""
    access = cluster_access(real_cluster)
    work = tmp_path_factory.mktemp("side")
    env = real_cluster.env(HOME=str(work), PATH=f"{OURS.parent}:{real_cluster.env()['PATH']}")
    names = {
        "up_mesh": unique("up"),
        "up_ns": unique("osm-up"),
        "our_mesh": unique("ours"),
        "our_ns": unique("osm-ours"),
        "app_up": unique("app-up"),
        "app_ours": unique("app-ours"),
    }
    for ns in (names["app_up"], names["app_ours"]):
        real_cluster.kubectl("create", "namespace", ns)
    state = {"env": env, "access": access, "work": work, **names, "running": []}
    crds_before = state["crds_before"] = _crds(real_cluster)
    try:
        # Upstream first, enforcing a single mesh (its default).
        installed, preinstall = mesh.install(
            access, env, names["up_ns"], names["up_mesh"], workdir=work
        )
        assert installed.returncode == 0, installed.stderr + str(preinstall)
        state["up_install"] = installed
        state["up_preinstall"] = preinstall
        # Ours refuses to join a cluster whose mesh enforces being the only one.
        state["our_refused"] = ours(
            env, "install", "--mesh-name", names["our_mesh"], "--osm-namespace", names["our_ns"],
            "--no-enforce-single-mesh",
        )  # fmt: skip
        # So upstream's mesh is re-installed without it, and ours joins.
        state["up_uninstall"] = mesh.uninstall(
            access,
            [str(mesh.binary("osm")), "uninstall", "mesh", "-f", "--osm-namespace",
             names["up_ns"], "--mesh-name", names["up_mesh"]],
            env, names["up_ns"], names["up_mesh"], workdir=work,
            kubectl_dir=binaries.bin_dir(),
        )  # fmt: skip
        installed, _ = mesh.install(
            access, env, names["up_ns"], names["up_mesh"], "--enforce-single-mesh=false",
            workdir=work,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr
        up = mesh.start_control_plane(access, names["up_ns"], names["up_mesh"], workdir=work)
        state["running"].append(up)
        state["up"] = up
        result = ours(
            env, "install", "--mesh-name", names["our_mesh"], "--osm-namespace", names["our_ns"],
            "--no-enforce-single-mesh", "--timeout", "3m",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        state["our_install"] = result
        controller = our_mesh.start_controller(access, names["our_ns"], workdir=work)
        state["running"].append(controller)
        yield state
    finally:
        for running in reversed(state["running"]):
            running.stop()
        _remove_everything(real_cluster, state, crds_before)


def _crds(real_cluster) -> set[str]:  # type: ignore[no-untyped-def]
    return set(real_cluster.kubectl("get", "crd", "-o", "name").stdout.split())


def _remove_everything(real_cluster, state, crds_before) -> None:  # type: ignore[no-untyped-def]
    """Whatever the tests left of either mesh is removed, so the session's cluster is as
    before: Helm releases, namespaces, the CRDs this module brought, webhook configurations."""
    env = state["env"]
    for ns, name in ((state["up_ns"], state["up_mesh"]), (state["our_ns"], state["our_mesh"])):
        if ns in real_cluster.kubectl("get", "namespace", "-o", "name").stdout:
            subprocess.run(["helm", "uninstall", name, "-n", ns, "--no-hooks", "--wait=false"],
                           env=env, capture_output=True, timeout=120)  # fmt: skip
    for ns in (state["up_ns"], state["our_ns"], state["app_up"], state["app_ours"]):
        real_cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false",
                             check=False)  # fmt: skip
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        for name in (state["up_mesh"], state["our_mesh"]):
            real_cluster.kubectl("delete", kind, "-l", f"app.kubernetes.io/instance={name}",
                                 "--ignore-not-found", check=False)  # fmt: skip
    for ours_by_name in (
        f"osm-webhook-{state['our_mesh']}",
        f"osm-validator-mesh-{state['up_mesh']}",
    ):
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            real_cluster.kubectl("delete", kind, ours_by_name, "--ignore-not-found", check=False)
    added = sorted(_crds(real_cluster) - crds_before)
    if added:
        real_cluster.kubectl("delete", *added, "--ignore-not-found", check=False, timeout=120)


def test_upstream_preinstall_check_ran_for_real(side):
    code, log = side["up_preinstall"]
    assert code == 0
    assert "checks OK" in log
    assert f"OSM installed successfully in namespace [{side['up_ns']}]" in side["up_install"].stdout


def test_ours_refuses_to_join_a_mesh_that_enforces_single_mesh(side):
    refused = side["our_refused"]
    assert refused.returncode == 1
    assert side["up_mesh"] in refused.stderr


def test_upstream_mesh_list_shows_our_mesh(side):
    result = mesh.osm(side["env"], "mesh", "list")
    assert result.returncode == 0, result.stderr
    rows = {r[0]: r for r in table(result.stdout, "MESH NAME")}
    assert rows[side["our_mesh"]][1] == side["our_ns"]
    assert OUR_VERSION_RE.match(rows[side["our_mesh"]][2])
    assert rows[side["up_mesh"]][1:3] == [side["up_ns"], UPSTREAM_VERSION]


def test_ours_mesh_list_shows_upstream_mesh_and_its_smi_versions(side):
    result = ours(side["env"], "mesh", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    meshes = {m["name"]: m for m in json.loads(result.stdout)}
    up = meshes[side["up_mesh"]]
    assert (up["namespace"], up["version"]) == (side["up_ns"], UPSTREAM_VERSION)
    # Asked of upstream's controller (GET :9091/smi/version through the pod proxy).
    assert up["smiSupported"] == {
        "HTTPRouteGroup": "v1alpha4",
        "TCPRoute": "v1alpha4",
        "TrafficSplit": "v1alpha2",
        "TrafficTarget": "v1alpha3",
    }


def test_upstream_namespace_add_and_list_on_our_mesh(side, real_cluster):
    env, app = side["env"], side["app_up"]
    added = mesh.osm(env, "namespace", "add", app, "--mesh-name", side["our_mesh"])
    assert added.returncode == 0, added.stderr
    assert (
        added.stdout.strip() == f"Namespace [{app}] successfully added to mesh [{side['our_mesh']}]"
    )
    labels = real_cluster.kubectl_json("get", "namespace", app)["metadata"]
    assert labels["labels"]["openservicemesh.io/monitored-by"] == side["our_mesh"]
    assert labels["annotations"]["openservicemesh.io/sidecar-injection"] == "enabled"
    theirs = table(mesh.osm(env, "namespace", "list").stdout, "NAMESPACE")
    mine = table(ours(env, "namespace", "list").stdout, "NAMESPACE")
    assert [app, side["our_mesh"], "enabled"] in theirs
    assert sorted(theirs) == sorted(mine)


def test_ours_namespace_add_and_list_on_upstream_mesh(side):
    env, app = side["env"], side["app_ours"]
    added = ours(env, "namespace", "add", app, "--mesh-name", side["up_mesh"])
    assert added.returncode == 0, added.stderr
    assert f"Namespace [{app}] successfully added to mesh [{side['up_mesh']}]" in added.stdout
    theirs = table(mesh.osm(env, "namespace", "list", side["up_mesh"]).stdout, "NAMESPACE")
    assert theirs == [[app, side["up_mesh"], "enabled"]]


def test_upstream_version_reads_our_controller(side):
    result = mesh.osm(side["env"], "version")
    rows = {r[0]: r for r in table(result.stdout, "MESH NAME")}
    _name, namespace, version, *_commit_and_date = rows[side["our_mesh"]]
    assert namespace == side["our_ns"]
    assert OUR_VERSION_RE.match(version)
    assert rows[side["up_mesh"]][2:4] == [UPSTREAM_VERSION, UPSTREAM_COMMIT]
    # Upstream also asks GitHub for the latest release: offline, that alone fails the command.
    assert result.returncode == 1
    assert "Failed to get latest release information" in result.stderr
    assert "Failed to get mesh version" not in result.stderr


def test_ours_version_reads_upstream_controller(side):
    result = ours(side["env"], "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    meshes = {m["meshName"]: m for m in json.loads(result.stdout)["meshes"]}
    up = meshes[side["up_mesh"]]
    assert (up["version"], up["gitCommit"]) == (UPSTREAM_VERSION, UPSTREAM_COMMIT)
    assert OUR_VERSION_RE.match(meshes[side["our_mesh"]]["version"])


def test_upstream_preinstall_refuses_a_single_mesh_beside_ours(side, real_cluster):
    """Upstream's own check (the preinstall Job, run with its binary) reads our Deployment's
    labels: a new mesh enforcing single mesh is refused while ours exists."""
    namespace, name = unique("osm-third"), unique("third")
    try:
        result, preinstall = mesh.install(
            side["access"], side["env"], namespace, name, workdir=side["work"], timeout=60
        )
        assert result.returncode == 1
        assert "failed pre-install" in result.stderr
        assert preinstall is not None
        code, log = preinstall
        assert code == 1
        assert f"namespace: {side['our_ns']}, name: {side['our_mesh']}" in log
        assert "already exist so a new mesh enforcing it is the only one cannot be installed" in log
    finally:
        subprocess.run(["helm", "uninstall", name, "-n", namespace, "--no-hooks"],
                       env=side["env"], capture_output=True, timeout=120)  # fmt: skip
        real_cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found",
                             "--wait=false", check=False)  # fmt: skip


def test_ours_uninstalls_upstream_mesh_with_its_cleanup_hook(side, real_cluster):
    """Our `osm uninstall mesh` on upstream's release: Helm runs upstream's post-delete hook (a
    Job whose kubectl script is played under its own ServiceAccount)."""
    up = side.pop("up")
    side["running"].remove(up)
    up.stop()
    result, cleanup = mesh.uninstall(
        side["access"],
        [str(OURS), "uninstall", "mesh", "-f", "--mesh-name", side["up_mesh"],
         "--osm-namespace", side["up_ns"]],
        side["env"], side["up_ns"], side["up_mesh"], workdir=side["work"],
        kubectl_dir=binaries.bin_dir(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"[mesh name: {side['up_mesh']}]" in result.stdout
    assert cleanup is not None
    code, log = cleanup
    # Upstream's hook: `kubectl replace -f /osm-crds` puts upstream's CRDs back over the shared
    # ones (ours serve more versions), and its own RBAC lacks the MeshRootCertificate delete.
    assert (
        "customresourcedefinition.apiextensions.k8s.io/tcproutes.specs.smi-spec.io replaced" in log
    )
    assert 'cannot delete resource "meshrootcertificates"' in log
    assert code == 0  # the script's last command (the validating webhook deletion) succeeded
    tcproutes = real_cluster.kubectl_json("get", "crd", "tcproutes.specs.smi-spec.io")
    assert [v["name"] for v in tcproutes["spec"]["versions"]] == ["v1alpha4"]
    left = real_cluster.kubectl("get", "deployments", "-n", side["up_ns"], "-o", "name").stdout
    assert left == ""
    # Our mesh is untouched.
    assert (
        real_cluster.kubectl(
            "get", "deployment", "osm-controller", "-n", side["our_ns"], "-o", "name"
        ).stdout.strip()
        == "deployment.apps/osm-controller"
    )


def test_upstream_uninstalls_our_mesh_with_cluster_wide_resources(side, real_cluster):
    result = mesh.osm(
        side["env"], "uninstall", "mesh", "-f", "-a", "--mesh-name", side["our_mesh"],
        "--osm-namespace", side["our_ns"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"OSM [mesh name: {side['our_mesh']}] in namespace [{side['our_ns']}] uninstalled" in (
        result.stdout
    )
    side["up_uninstall_ours"] = result
    releases = subprocess.run(
        ["helm", "list", "-n", side["our_ns"], "-q"], env=side["env"], capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    assert releases.strip() == ""
    secrets = real_cluster.kubectl("get", "secret", "-n", side["our_ns"], "-o", "name").stdout
    assert "secret/osm-ca-bundle" not in secrets
    # -a deletes the CRDs upstream knows; ours' own two stay, and so does upstream's
    # MeshRootCertificate CRD (its uninstall looks for "meshRootCertificate.config...").
    left = {
        name.removeprefix("customresourcedefinition.apiextensions.k8s.io/")
        for name in _crds(real_cluster)
        if name.endswith((".smi-spec.io", ".openservicemesh.io"))
    }
    assert left == {
        "udproutes.specs.smi-spec.io",
        "faultinjections.policy.openservicemesh.io",
        "meshrootcertificates.config.openservicemesh.io",
    }
    assert "did not find OSM CRD: meshRootCertificate.config.openservicemesh.io" in result.stdout
