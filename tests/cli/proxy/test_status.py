"""`osm proxy status`: a real Envoy connected to the real controller, read through the API
server's port-forward (emulator) to the controller's loopback-only debug port; and the local
mesh. A NACK is produced by a real Envoy rejecting a route table."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc

from osm_mesh import labels
from osm_mesh.controller.app import Controller
from osm_mesh.envoy import pb
from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.kube.client import connect
from osm_mesh.xds.cache import ROUTE
from tests.cli.kube_seed import mesh as seed_controller
from tests.mesh.controller.conftest import POD_UUID, seed_mesh, settings

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(90)]


def _duplicate_domains() -> dict:
    """A route table Envoy rejects (the same domain in two virtual hosts)."""
    vhosts = [
        rc.VirtualHost(
            name=f"v{i}",
            domains=["dup"],
            routes=[
                rc.Route(
                    match=rc.RouteMatch(prefix="/"),
                    direct_response=rc.DirectResponseAction(status=200),
                )
            ],
        )
        for i in range(2)
    ]
    return {"rds-inbound": pb.RouteConfiguration(name="rds-inbound", virtual_hosts=vhosts)}


@pytest.fixture
def cluster(kube_emulator, kubeconfig, tmp_path):
    """Controller + one real Envoy of pod bookstore/bookstore-0; the CLI reaches the
    controller's debug port through the emulator's port-forward."""
    seed_mesh(kube_emulator, pod_ip="127.0.0.1")
    controller_pod = seed_controller(kube_emulator, serve=False)
    controller = Controller(connect(str(kubeconfig)), settings()).start()
    kube_emulator.serve_port_forward(
        "osm-system",
        controller_pod,
        labels.CONTROLLER_DEBUG_PORT,
        "127.0.0.1",
        controller.debug_http.port,
    )
    cp = controller.control_plane
    pod = controller.source.snapshot().pod_by_uuid(POD_UUID)
    envoy = EnvoyProcess(cp.bootstrap_for(pod), tmp_path / "envoy").start()
    try:
        assert cp.wait_connected(1, 15) and cp.wait_converged(timeout=15)
        yield controller, envoy
    finally:
        envoy.stop()
        controller.stop()


def test_synced_then_stale_with_the_nack(osm, cluster, kube_emulator, kubeconfig):
    controller, _envoy = cluster
    result = osm(["proxy", "status", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    [row] = data["proxies"]
    assert (row["namespace"], row["pod"], row["identity"]) == (
        "bookstore",
        "bookstore-0",
        "bookstore/bookstore",
    )
    assert {t: s["state"] for t, s in row["types"].items()} == {
        "CDS": "SYNCED",
        "LDS": "SYNCED",
        "EDS": "NOT SENT",  # SMI mode, no TrafficTarget: no upstream with endpoints to ask for
        "RDS": "SYNCED",
        "SDS": "SYNCED",
    }
    assert row["synced"] is True
    assert row["certificate"]["secondsLeft"] > 3000  # the MeshConfig's 1h validity
    assert data["source"].startswith("osm-controller pod [osm-controller-")

    # A configuration the real Envoy rejects: RDS turns STALE, with Envoy's own reason.
    cp = controller.control_plane
    [node] = cp.connected()
    current = cp.cache.get(node)
    resources = {t: dict(r) for t, r in current.resources.items()}
    resources[ROUTE] = _duplicate_domains()
    bad = cp.cache.set_snapshot(node, resources)
    assert cp.server.wait_for(lambda st: st[node].nacks, 15)
    table = osm(["proxy", "status"], kubeconfig=kubeconfig)
    assert table.exit_code == 0, table.stderr
    header, line = table.stdout.splitlines()
    assert header.split()[:8] == ["NAMESPACE", "POD", "IDENTITY", "CDS", "LDS", "EDS", "RDS", "SDS"]
    cells = [c for c in line.split("  ") if c]
    assert [c.strip() for c in cells[:8]] == [
        "bookstore",
        "bookstore-0",
        "bookstore/bookstore",
        "SYNCED",
        "SYNCED",
        "NOT SENT",
        "STALE",
        "SYNCED",
    ]
    assert "RDS:" in line and "dup" in line  # the last NACK, as Envoy worded it
    rds = json.loads(osm(["proxy", "status", "-o", "json"], kubeconfig=kubeconfig).stdout)[
        "proxies"
    ][0]["types"]["RDS"]
    assert rds["state"] == "STALE" and rds["sent"] == bad.type_versions[ROUTE]
    assert rds["reason"].startswith(f"rejected version {bad.type_versions[ROUTE]}: ")


def test_namespace_filter_and_empty_message(osm, cluster, kubeconfig):
    result = osm(["proxy", "status", "-n", "elsewhere"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout.startswith("No connected proxies in namespace elsewhere (osm-controller")


def test_debug_port_is_loopback_only(cluster):
    """The attack: reach the debug port on another address of the machine. A wildcard bind
    (what 9091 uses) would answer there; the loopback bind refuses."""
    controller, _ = cluster
    port = controller.debug_http.port
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}{labels.CONTROLLER_PROXY_STATUS_PATH}") as r:
        assert r.status == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
    assert controller.settings.debug_host == "127.0.0.1"


def test_missing_mesh_and_unreachable_debug_port(osm, kube_emulator, kubeconfig):
    missing = osm(["proxy", "status", "--mesh-name", "nope"], kubeconfig=kubeconfig)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: Did not find mesh [nope]\n")
    seed_controller(kube_emulator, serve=False)  # a controller that serves no debug port
    dead = osm(["proxy", "status"], kubeconfig=kubeconfig)
    assert dead.exit_code == 1
    first = dead.stderr.splitlines()[0]
    assert first.startswith("Error: could not read the proxy status from osm-controller pod")
    assert "Traceback" not in dead.stderr


def test_check_proxy_reads_the_same_status(osm, cluster, kubeconfig):
    """`osm check --proxy`: the real Envoy is connected and in sync with a valid certificate;
    the seeded pod has no envoy container, which the sidecar check reports; a NACK then
    makes the sync check fail."""
    controller, _envoy = cluster

    def data_plane() -> dict[str, dict]:
        result = osm(["check", "--proxy", "-o", "json"], kubeconfig=kubeconfig)
        assert result.exit_code == 1  # the emulator has no injector, webhook...
        checks = json.loads(result.stdout)["checks"]
        return {c["name"]: c for c in checks if c["category"] == "data-plane"}

    first = data_plane()
    assert first["proxies are connected and in sync"]["status"] == "ok", first
    assert first["proxy certificates are valid"]["status"] == "ok"
    sidecars = first["meshed pods have a ready sidecar"]
    assert sidecars["status"] == "fail" and "bookstore/bookstore-0" in sidecars["detail"]

    cp = controller.control_plane
    [node] = cp.connected()
    current = cp.cache.get(node)
    resources = {t: dict(r) for t, r in current.resources.items()}
    resources[ROUTE] = _duplicate_domains()
    cp.cache.set_snapshot(node, resources)
    assert cp.server.wait_for(lambda st: st[node].nacks, 15)
    synced = data_plane()["proxies are connected and in sync"]
    assert synced["status"] == "fail" and "stale: bookstore/bookstore-0" in synced["detail"]
