"""A real Envoy rejecting a config: the NACK is recorded and the last good config keeps serving."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc

from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.envoy import pb
from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap, node_id
from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.xds.cache import LISTENER, ROUTE, SnapshotCache
from osm_mesh.xds.server import AdsServer, ServerTLS
from tests.e2e_envoy.harness import free_loopback_base

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(60)]
SAN = "osm-controller.osm-system.svc"


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


def resources(ip: str, body: str, domains: list[list[str]]) -> dict:
    vhosts = [
        rc.VirtualHost(
            name=f"v{i}",
            domains=d,
            routes=[
                rc.Route(
                    match=rc.RouteMatch(prefix="/"),
                    direct_response=rc.DirectResponseAction(
                        status=200, body=pb.base_pb2.DataSource(inline_string=body)
                    ),
                )
            ],
        )
        for i, d in enumerate(domains)
    ]
    listener = pb.Listener(
        name="l",
        address=pb.socket_address(ip, 15001),
        filter_chains=[
            pb.listener_components_pb2.FilterChain(
                filters=[pb.http_connection_manager("t", "r", rbac=False)]
            )
        ],
    )
    return {
        LISTENER: {"l": listener},
        ROUTE: {"r": pb.RouteConfiguration(name="r", virtual_hosts=vhosts)},
    }


def test_nack_keeps_last_good_config(tmp_path, mesh_ca):
    ip = f"{free_loopback_base()}.1"
    server_cert = mesh_ca.issue_for_names(common_name=SAN, dns_names=[SAN])
    cache = SnapshotCache()
    boot_ca = bootstrap_authority(mesh_ca)
    server = AdsServer(
        cache, tls=ServerTLS(server_cert.cert_pem, server_cert.key_pem, boot_ca.cert_pem)
    )
    port = server.start()
    nid = node_id("p1", "web", "shop", "cluster.local")
    cache.set_snapshot(nid, resources(ip, "good", [["*"]]))
    cert = issue_bootstrap(boot_ca, nid)
    boot = bootstrap(
        node_id=nid,
        cluster="web.shop",
        ads_host="127.0.0.1",
        ads_port=port,
        tls=BootstrapTLS(cert.cert_pem, cert.key_pem, mesh_ca.cert_pem),
    )
    envoy = EnvoyProcess(boot, tmp_path).start()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        envoy.wait_ready()
        assert opener.open(f"http://{ip}:15001/").read() == b"good"
        # Duplicate domains across virtual hosts: Envoy rejects the route configuration.
        bad = cache.set_snapshot(nid, resources(ip, "bad", [["a"], ["a"]]))
        assert server.wait_for(lambda st: st[nid].nacks, 10)
        status = server.statuses()[nid]
        assert status.nacks[-1].type_url == ROUTE
        assert status.nacks[-1].version == bad.type_versions[ROUTE]
        assert "a" in status.nacks[-1].message
        assert not status.converged_to(cache.get(nid))
        assert opener.open(f"http://{ip}:15001/").read() == b"good"
        # A fixed config is accepted again.
        fixed = cache.set_snapshot(nid, resources(ip, "fixed", [["*"]]))
        assert server.wait_for(
            lambda st: st[nid].acked.get(ROUTE) == fixed.type_versions[ROUTE], 10
        )
        assert opener.open(f"http://{ip}:15001/").read() == b"fixed"
    finally:
        envoy.stop()
        server.stop()
