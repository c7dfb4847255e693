"""`osm proxy get QUERY POD` against a real Envoy admin reached through the emulator's
port-forward (pods/portforward, v4.channel.k8s.io)."""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from tests.cli.proxy.envoy_admin import (
    CLUSTER,
    DOMAIN,
    LISTENER,
    ROUTE,
    SECRET,
    admin_port,
    start_envoy,
)
from tests.mesh.kube.portforward_helpers import seed_pod

pytestmark = pytest.mark.envoy

NS = "bookstore"
POD = "bookstore-v1-5d8f"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    envoy, key_pem = start_envoy(tmp_path_factory.mktemp("envoy"))
    try:
        yield envoy, key_pem
    finally:
        envoy.stop()


@pytest.fixture
def meshed_pod(kube_emulator, sidecar):
    envoy, key_pem = sidecar
    seed_pod(kube_emulator, NS, POD, labels={"app": "bookstore", "osm-proxy-uuid": "6d2c3f5e"})
    kube_emulator.serve_port_forward(NS, POD, 15000, "127.0.0.1", admin_port(envoy))
    return key_pem


def run(osm, kubeconfig, *args):
    return osm(["proxy", "get", *args], kubeconfig=kubeconfig)


def test_raw_answer_as_upstream(osm, kubeconfig, meshed_pod):
    result = run(osm, kubeconfig, "ready", POD, "-n", NS, "-p", "0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "LIVE\n"
    clusters = run(osm, kubeconfig, "clusters", POD, "-n", NS, "-p", "0")
    assert f"{CLUSTER}::127.0.0.1:14001::" in clusters.stdout


def test_config_dump_json_is_pretty_and_complete(osm, kubeconfig, meshed_pod):
    result = run(osm, kubeconfig, "config_dump", POD, "--namespace", NS, "-p", "0", "-o", "json")
    assert result.exit_code == 0, result.stderr
    dump = json.loads(result.stdout)
    types = {c["@type"].rsplit(".", 1)[1] for c in dump["configs"]}
    assert {"ListenersConfigDump", "ClustersConfigDump", "RoutesConfigDump"} <= types
    assert result.stdout.startswith('{\n  "configs": [')
    assert meshed_pod.splitlines()[1] not in result.stdout  # the private key stays redacted


@pytest.mark.parametrize(
    ("config_type", "row"),
    [
        ("listeners", [LISTENER, "127.0.0.1"]),
        ("clusters", [CLUSTER, "STATIC", "static"]),
        ("routes", [ROUTE, "1", "1", DOMAIN]),
        ("secrets", [SECRET, "tls_certificate", "static"]),
        ("endpoints", [CLUSTER, "127.0.0.1:14001"]),
    ],
)
def test_type_table(osm, kubeconfig, meshed_pod, config_type, row):
    result = run(osm, kubeconfig, "config_dump", POD, "-n", NS, "-p", "0", "--type", config_type)
    assert result.exit_code == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[0] in ("NAME", "CLUSTER")
    assert any(line.split()[: len(row)] == row for line in lines), result.stdout


def test_type_json_and_yaml_subsets(osm, kubeconfig, meshed_pod):
    clusters = run(
        osm, kubeconfig, "config_dump", POD, "-n", NS, "-p", "0", "-t", "clusters", "-o", "json"
    )
    data = json.loads(clusters.stdout)
    assert data["@type"] == "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"
    assert [c["cluster"]["name"] for c in data["static_clusters"]] == [CLUSTER]
    secrets = run(
        osm, kubeconfig, "config_dump", POD, "-n", NS, "-p", "0", "-t", "secrets", "-o", "yaml"
    )
    parsed = yaml.safe_load(secrets.stdout)
    tls = parsed["static_secrets"][0]["secret"]["tls_certificate"]
    assert tls["private_key"] == "[redacted]" or "inline_string" not in str(tls["private_key"])
    assert meshed_pod.splitlines()[1] not in secrets.stdout


def test_file_output(osm, kubeconfig, meshed_pod, tmp_path):
    target = tmp_path / "listeners.txt"
    result = run(osm, kubeconfig, "listeners", POD, "-n", NS, "-p", "0", "-f", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert target.read_text().startswith(f"{LISTENER}::127.0.0.1:")


def test_default_local_port_falls_back_when_15000_is_taken(osm, kubeconfig, meshed_pod):
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", 15000))
            holder.listen()
        except OSError:
            pass  # someone else holds 15000 already: the same situation
        result = run(osm, kubeconfig, "ready", POD, "-n", NS, "--verbose")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "LIVE\n"


def test_explicit_local_port_taken_is_an_error(osm, kubeconfig, meshed_pod):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run(osm, kubeconfig, "ready", POD, "-n", NS, "-p", str(port))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Local port {port} on 127.0.0.1 is already in use\n")


def test_unknown_admin_path(osm, kubeconfig, meshed_pod):
    result = run(osm, kubeconfig, "no_such_thing", POD, "-n", NS, "-p", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Envoy admin answered HTTP 404 to /no_such_thing")
    assert f"osm proxy get help {POD} -n {NS}" in result.stderr


def test_json_output_of_a_text_answer_is_refused(osm, kubeconfig, meshed_pod):
    result = run(osm, kubeconfig, "ready", POD, "-n", NS, "-p", "0", "-o", "json")
    assert result.exit_code == 1
    assert "Error: The answer to ready is not JSON" in result.stderr


def test_type_needs_config_dump(osm, kubeconfig, kube_emulator):
    result = run(osm, kubeconfig, "stats", POD, "-n", NS, "--type", "clusters")
    assert result.exit_code == 1
    assert "Error: --type selects part of config_dump, not of 'stats'" in result.stderr
    assert kube_emulator.requests == []  # refused before contacting the cluster


def test_upstream_pod_errors(osm, kubeconfig, kube_emulator):
    seed_pod(kube_emulator, NS, "plain", labels={"app": "x"})
    seed_pod(kube_emulator, NS, "pending", labels={"osm-proxy-uuid": "1"}, phase="Pending")
    missing = run(osm, kubeconfig, "ready", "nope", "-n", NS)
    assert missing.stderr.splitlines()[0] == "Error: Could not find pod nope in namespace bookstore"
    plain = run(osm, kubeconfig, "ready", "plain", "-n", NS)
    assert (
        plain.stderr.splitlines()[0]
        == "Error: Pod plain in namespace bookstore is not a part of a mesh"
    )
    pending = run(osm, kubeconfig, "ready", "pending", "-n", NS)
    assert (
        pending.stderr.splitlines()[0] == "Error: Pod pending in namespace bookstore is not running"
    )
    assert {missing.exit_code, plain.exit_code, pending.exit_code} == {1}


def test_sidecar_admin_unreachable(osm, kubeconfig, kube_emulator):
    seed_pod(kube_emulator, NS, POD, labels={"osm-proxy-uuid": "1"})  # no forward target
    result = run(osm, kubeconfig, "ready", POD, "-n", NS, "-p", "0")
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Error: Error retrieving proxy config for pod {POD} in namespace {NS}")
    assert "failed to connect to localhost:15000" in first
