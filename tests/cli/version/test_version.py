"""`osm version`: client version always; per-mesh versions via the controller's /version."""

from __future__ import annotations

import json
import socket
import threading
import time

import osm_mesh
from tests.cli import kube_seed as seed
from tests.golden import assert_golden_data, assert_golden_text

CLIENT_LINE = (
    f"CLI Version: {osm_mesh.__version__}; Commit: {osm_mesh.GIT_COMMIT}; "
    f"Date: {osm_mesh.BUILD_DATE}"
)


def test_client_only_makes_no_call(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator)
    kube_emulator.clear_requests()
    result = osm(["version", "--client-only"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout == CLIENT_LINE + "\n"
    assert kube_emulator.requests == []


def test_version_only(osm):
    result = osm(["version", "--client-only", "--version-only"])
    assert result.stdout == f"CLI Version: {osm_mesh.__version__}\n"
    as_json = osm(["version", "--client-only", "--version-only", "-o", "json"])
    assert json.loads(as_json.stdout) == {"cli": {"version": osm_mesh.__version__}}


def test_mesh_versions_table(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator, "osm", "osm-system", "v1.2.4")
    seed.mesh(
        kube_emulator,
        "edge",
        "edge-system",
        "v1.3.0",
        version_info={"version": "v1.3.0", "git_commit": "feedbee", "build_date": "2026-10-01"},
    )
    result = osm(["version"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == CLIENT_LINE
    # The client line carries the build's version; the golden file holds the mesh table.
    assert_golden_text("cli/version/meshes.txt", "\n".join(result.stdout.splitlines()[1:]) + "\n")
    as_json = json.loads(osm(["version", "-o", "json"], kubeconfig=kubeconfig).stdout)
    assert_golden_data(
        "cli/version/meshes.json", json.dumps(as_json["meshes"], indent=2, sort_keys=True) + "\n"
    )
    short = osm(["version", "--version-only"], kubeconfig=kubeconfig)
    assert short.stdout.splitlines()[2].split() == ["MESH", "NAME", "MESH", "NAMESPACE", "VERSION"]


def test_mesh_versions_json(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator)
    data = json.loads(osm(["version", "-o", "json"], kubeconfig=kubeconfig).stdout)
    assert data["cli"]["version"] == osm_mesh.__version__
    assert data["meshes"] == [
        {
            "meshName": "osm",
            "meshNamespace": "osm-system",
            "version": "v1.2.4",
            "gitCommit": "0123abc",
            "buildDate": "2026-11-01-00:00",
        }
    ]


def test_no_control_plane_still_exits_zero(osm, kube_emulator, kubeconfig):
    result = osm(["version"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout == CLIENT_LINE + "\n"
    assert result.stderr == "Unable to find OSM control plane in the cluster\n"


def test_controller_not_answering_is_a_warning(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator, serve=False)
    result = osm(["version"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].split() == [
        "osm",
        "osm-system",
        "Unknown",
        "Unknown",
        "Unknown",
    ]
    assert "Warning: mesh [osm] in namespace [osm-system]: could not read the version" in (
        result.stderr
    )


def test_no_cluster_prints_client_version_and_exits_zero(osm, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    started = time.monotonic()
    result = osm(["version"], kubeconfig=kubeconfig)
    assert time.monotonic() - started < 5
    assert result.exit_code == 0
    assert result.stdout == CLIENT_LINE + "\n"
    assert result.stderr.startswith("Control-plane versions unavailable: Could not access")


def test_no_kubeconfig_at_all(osm, tmp_path):
    result = osm(["version"], kubeconfig=tmp_path / "missing")
    assert result.exit_code == 0
    assert result.stdout == CLIENT_LINE + "\n"
    assert "kubeconfig" in result.stderr.lower()


def test_hung_controllers_are_asked_in_parallel_and_cut_short(osm, kube_emulator, kubeconfig):
    release = threading.Event()

    def hang(method, path, headers, body):
        release.wait(30)
        return 200, {"Content-Type": "application/json"}, b"{}"

    try:
        for mesh, ns in (("osm", "osm-system"), ("edge", "edge-system")):
            pod = seed.mesh(kube_emulator, mesh, ns, serve=False)
            kube_emulator.serve_pod_proxy(ns, pod, 9091, hang)
        started = time.monotonic()
        result = osm(["version"], kubeconfig=kubeconfig)
        assert time.monotonic() - started < 5
    finally:
        release.set()
    assert result.exit_code == 0
    assert result.stderr.count("could not read the version") == 2
    assert "no answer within 3s" in result.stderr
