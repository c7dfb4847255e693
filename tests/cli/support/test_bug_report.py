"""`osm support bug-report`: unpack the archive and check what is (and is not) inside."""

from __future__ import annotations

import base64
import json
import tarfile

import pytest
import yaml

from tests.cli.proxy.envoy_admin import LISTENER, admin_port, start_envoy
from tests.mesh.kube.portforward_helpers import seed_namespace, seed_pod

pytestmark = pytest.mark.envoy

CA_KEY = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-CA-KEY\n-----END PRIVATE KEY-----\n"
B64_CA_KEY = base64.b64encode(CA_KEY.encode()).decode()
ROOT = "osm-bug-report"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    envoy, key_pem = start_envoy(tmp_path_factory.mktemp("envoy"))
    try:
        yield envoy, key_pem
    finally:
        envoy.stop()


@pytest.fixture
def mesh(kube_emulator, sidecar):
    """A control plane in osm-system and a meshed bookstore Deployment whose pods run Envoy."""
    emu = kube_emulator
    envoy, _ = sidecar
    seed_namespace(emu, "osm-system")
    seed_pod(
        emu,
        "osm-system",
        "osm-controller-7f9c",
        labels={"app": "osm-controller"},
        containers=[{"name": "osm-controller", "image": "osm-controller:v1"}],
    )
    emu.set_pod_log("osm-system", "osm-controller-7f9c", "controller started\nxds: 2 proxies\n")
    emu.create(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": False}},
        }
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "osm-ca-bundle",
                "namespace": "osm-system",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                        {"data": {"private.key": B64_CA_KEY}}
                    )
                },
            },
            "data": {"ca.crt": base64.b64encode(b"cert").decode(), "private.key": B64_CA_KEY},
        }
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "bookstore", "labels": {"openservicemesh.io/monitored-by": "osm"}},
        }
    )
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bookstore-v1", "namespace": "bookstore"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "bookstore"}},
                "template": {
                    "metadata": {"labels": {"app": "bookstore", "osm-proxy-uuid": "6d2c"}},
                    "spec": {
                        "containers": [
                            {"name": "bookstore", "image": "bookstore:v1"},
                            {"name": "envoy", "image": "envoyproxy/envoy"},
                        ]
                    },
                },
            },
        }
    )
    emu.create(
        {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "bookstore-access", "namespace": "bookstore"},
            "spec": {
                "destination": {
                    "kind": "ServiceAccount",
                    "name": "bookstore",
                    "namespace": "bookstore",
                },
                "sources": [
                    {"kind": "ServiceAccount", "name": "bookbuyer", "namespace": "bookbuyer"}
                ],
            },
        }
    )
    pods = [p["metadata"]["name"] for p in emu.list("v1", "Pod", "bookstore")]
    assert len(pods) == 1, pods  # created by the emulator's Deployment controller
    emu.serve_port_forward("bookstore", pods[0], 15000, "127.0.0.1", admin_port(envoy))
    emu.set_pod_log("bookstore", pods[0], "[envoy] all clusters initialized\n", container="envoy")
    # A pod outside the mesh, named explicitly: collected without Envoy data.
    seed_pod(emu, "bookstore", "debug-shell", labels={"app": "debug"})
    return pods[0]


def unpack(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_bug_report_archive(osm, kubeconfig, mesh, sidecar, tmp_path):
    out = tmp_path / "report.tar.gz"
    result = osm(
        [
            "support",
            "bug-report",
            "--app-namespaces",
            "bookstore",
            "--app-deployments",
            "bookstore/bookstore-v1",
            "--app-pods",
            "bookstore/debug-shell",
            "-o",
            str(out),
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == f"Bug report successfully archived to {out}"
    assert "[+] Collecting information from control plane pods" in lines
    assert "✓ Collected report for Pod osm-system/osm-controller-7f9c" in lines
    assert f"✓ Collected report for Pod 'bookstore/{mesh}'" in lines
    assert not any(line.startswith("x ") for line in lines), result.stderr
    assert result.stdout == ""

    files = unpack(out)
    cp = f"{ROOT}/control-plane/osm-system"
    assert files[f"{cp}/pods/osm-controller-7f9c/osm-controller.log"] == (
        b"controller started\nxds: 2 proxies\n"
    )
    meshconfigs = yaml.safe_load(files[f"{cp}/meshconfigs.yaml"])
    assert [m["metadata"]["name"] for m in meshconfigs["items"]] == ["osm-mesh-config"]

    secrets = yaml.safe_load(files[f"{cp}/secrets.yaml"])["items"]
    ca = next(s for s in secrets if s["metadata"]["name"] == "osm-ca-bundle")
    assert ca["data"] == {
        "ca.crt": "REDACTED (8 bytes)",
        "private.key": f"REDACTED ({len(B64_CA_KEY)} bytes)",
    }
    everything = b"".join(files.values())
    assert B64_CA_KEY.encode() not in everything
    assert b"TOP-SECRET-CA-KEY" not in everything
    _, sidecar_key = sidecar
    assert sidecar_key.splitlines()[1].encode() not in everything

    app = f"{ROOT}/namespaces/bookstore"
    targets = yaml.safe_load(files[f"{app}/traffictargets.access.smi-spec.io.yaml"])["items"]
    assert [t["metadata"]["name"] for t in targets] == ["bookstore-access"]
    deployments = yaml.safe_load(files[f"{app}/deployments.yaml"])["items"]
    assert [d["metadata"]["name"] for d in deployments] == ["bookstore-v1"]

    envoy_dir = f"{app}/pods/{mesh}/envoy"
    dump = json.loads(files[f"{envoy_dir}/config_dump.json"])
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    assert listeners["static_listeners"][0]["listener"]["name"] == LISTENER
    assert files[f"{envoy_dir}/ready.txt"] == b"LIVE\n"
    assert b"server.live: 1" in files[f"{envoy_dir}/stats.txt"]
    assert files[f"{app}/pods/{mesh}/envoy.log"] == b"[envoy] all clusters initialized\n"
    assert f"{app}/pods/debug-shell/pod.yaml" in files
    assert not any(name.startswith(f"{app}/pods/debug-shell/envoy/") for name in files)

    readme = files[f"{ROOT}/README.txt"].decode()
    assert "Failures (0):" in readme
    assert f"App pods: bookstore/debug-shell, bookstore/{mesh}" in readme


def test_all_finds_meshed_namespaces_and_pods(osm, kubeconfig, mesh, tmp_path):
    out = tmp_path / "all.tgz"
    result = osm(["support", "bug-report", "--all", "-o", str(out)], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    files = unpack(out)
    meshed = yaml.safe_load(files[f"{ROOT}/mesh-namespaces.yaml"])["items"]
    assert [n["metadata"]["name"] for n in meshed] == ["bookstore"]
    assert f"{ROOT}/namespaces/bookstore/pods/{mesh}/envoy/config_dump.json" in files
    assert f"{ROOT}/namespaces/bookstore/pods/debug-shell/pod.yaml" in files


def test_unreadable_parts_are_listed_not_fatal(osm, kubeconfig, kube_emulator, mesh, tmp_path):
    kube_emulator.forbid("list", "secrets", "bookstore")
    out = tmp_path / "partial.tar.gz"
    result = osm(
        ["support", "bug-report", "--app-namespaces", "bookstore,missing-ns", "-o", str(out)],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    assert any(line.startswith("x Secrets in bookstore:") for line in result.stderr.splitlines())
    assert "Warning: " in result.stderr
    readme = unpack(out)[f"{ROOT}/README.txt"].decode()
    assert "- Secrets in bookstore:" in readme


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app-pods", "no-namespace"], "Error: Pod name 'no-namespace' is not namespaced"),
        (["--app-deployments", "a/b/c"], "Error: Deployment name 'a/b/c' is not namespaced"),
        (["-o", "report.zip"], "Error: Unsupported archive format for report.zip"),
    ],
)
def test_bad_arguments_touch_nothing(osm, kubeconfig, kube_emulator, tmp_path, args, message):
    result = osm(["support", "bug-report", *args], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert kube_emulator.requests == []
    assert list(tmp_path.glob("*.tar.gz")) == []


def test_unreachable_cluster_leaves_no_file(osm, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    out = tmp_path / "r.tar.gz"
    result = osm(["support", "bug-report", "-o", str(out)], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert "Could not access Kubernetes cluster" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [kubeconfig]


def test_default_out_file_goes_to_the_temp_dir(
    osm, kubeconfig, kube_emulator, tmp_path, monkeypatch
):
    import tempfile

    seed_namespace(kube_emulator, "osm-system")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = osm(["support", "bug-report"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    archives = list(tmp_path.glob("*_osm-bug-report.tar.gz"))
    assert len(archives) == 1
    assert result.stderr.splitlines()[-1] == f"Bug report successfully archived to {archives[0]}"
    assert f"{ROOT}/README.txt" in unpack(archives[0])
    assert list(tmp_path.glob(".osm-bug-report-*")) == []  # no partial file left behind
