"""The ADS server over real gRPC + mTLS with a Python xDS client: identity checks, ACK/NACK,
nonces, push on change. (Real Envoy behaviour is covered in tests/e2e_envoy.)"""

from __future__ import annotations

import queue
from dataclasses import dataclass

import grpc
import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

from osm_mesh.certs import CertificateAuthority
from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.errors import InvalidInput
from osm_mesh.xds.cache import CLUSTER, LISTENER, SnapshotCache
from osm_mesh.xds.server import AdsServer, NodeId, ServerTLS

SAN = "osm-controller.osm-system.svc"
NODE = "uuid-1.sidecar.web.shop.cluster.local"


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


@pytest.fixture(scope="module")
def ca():
    return CertificateAuthority.create()


@pytest.fixture(scope="module")
def boot_ca(ca):
    return bootstrap_authority(ca)


def node_cert(boot_ca, node: str = NODE):
    """The bootstrap certificate the injector would put in ``node``'s pod."""
    return issue_bootstrap(boot_ca, node)


@pytest.fixture
def server(ca, boot_ca):
    cert = ca.issue_for_names(common_name=SAN, dns_names=[SAN])
    cache = SnapshotCache()
    # As the control plane runs it: presents a mesh-CA server certificate, trusts only the
    # bootstrap CA for clients.
    srv = AdsServer(cache, tls=ServerTLS(cert.cert_pem, cert.key_pem, boot_ca.cert_pem))
    srv.start()
    yield srv
    srv.stop(grace=None)


class Client:
    def __init__(self, port: int, ca_pem: bytes, cert=None) -> None:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca_pem,
            private_key=cert.key_pem if cert else None,
            certificate_chain=cert.cert_pem if cert else None,
        )
        self.channel = grpc.secure_channel(
            f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", SAN)]
        )
        self.requests: queue.Queue = queue.Queue()
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self.responses = stub.StreamAggregatedResources(iter(self.requests.get, None))

    def send(self, **kw) -> None:
        self.requests.put(discovery_pb2.DiscoveryRequest(**kw))

    def recv(self) -> discovery_pb2.DiscoveryResponse:
        return next(self.responses)

    def close(self) -> None:
        self.requests.put(None)
        self.channel.close()


def clusters(*names: str) -> dict:
    return {CLUSTER: {n: cluster_pb2.Cluster(name=n) for n in names}}


def test_node_id_parsing():
    node = NodeId.parse(NODE, "cluster.local")
    assert (node.proxy_uuid, node.service_account, node.namespace) == ("uuid-1", "web", "shop")
    assert node.spiffe_id == "spiffe://cluster.local/ns/shop/sa/web"
    with pytest.raises(Exception, match="malformed node id"):
        NodeId.parse("just-a-name.cluster.local", "cluster.local")


def test_ack_nack_and_push_on_change(server, ca, boot_ca):
    server.cache.set_snapshot(NODE, clusters("a"))
    client = Client(server.port, ca.cert_pem, node_cert(boot_ca))
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        first = client.recv()
        assert [r.type_url for r in first.resources] == [CLUSTER]
        assert first.version_info == "1"
        client.send(type_url=CLUSTER, version_info="1", response_nonce=first.nonce)
        assert server.wait_for(lambda st: st[NODE].acked.get(CLUSTER) == "1", 5)

        # A new snapshot is pushed without being asked.
        server.cache.set_snapshot(NODE, clusters("a", "b"))
        second = client.recv()
        assert second.version_info == "2" and len(second.resources) == 2
        # The proxy rejects it: recorded, not resent; the last ACK stays "1".
        client.send(
            type_url=CLUSTER,
            version_info="1",
            response_nonce=second.nonce,
            error_detail=status_pb2.Status(code=3, message="bad cluster b"),
        )
        assert server.wait_for(lambda st: st[NODE].nacks, 5)
        status = server.statuses()[NODE]
        assert status.acked[CLUSTER] == "1"
        assert status.nacks[0].message == "bad cluster b" and status.nacks[0].version == "2"
        assert not status.converged_to(server.cache.get(NODE))

        # A stale nonce is ignored; the next snapshot is pushed and ACKed.
        client.send(type_url=CLUSTER, version_info="1", response_nonce="999")
        server.cache.set_snapshot(NODE, clusters("a"))
        third = client.recv()
        assert third.version_info == "3"
        client.send(type_url=CLUSTER, version_info="3", response_nonce=third.nonce)
        assert server.wait_for(lambda st: st[NODE].acked.get(CLUSTER) == "3", 5)
        assert server.statuses()[NODE].converged_to(server.cache.get(NODE))
    finally:
        client.close()


def test_unchanged_types_keep_their_version(server):
    first = server.cache.set_snapshot(NODE, clusters("a"))
    second = server.cache.set_snapshot(NODE, {**clusters("a"), LISTENER: {}})
    assert second.version == first.version + 1
    assert second.type_versions[CLUSTER] == first.type_versions[CLUSTER]
    third = server.cache.set_snapshot(NODE, clusters("b"))
    assert third.type_versions[CLUSTER] == str(third.version)


def test_node_id_must_match_client_certificate(server, ca, boot_ca):
    server.cache.set_snapshot(NODE, clusters("a"))
    # The bootstrap certificates of shop/thief, and of another proxy of shop/web, claiming
    # to be shop/web's uuid-1.
    for other in (
        "uuid-2.sidecar.thief.shop.cluster.local",
        "uuid-2.sidecar.web.shop.cluster.local",
    ):
        client = Client(server.port, ca.cert_pem, node_cert(boot_ca, other))
        try:
            client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
            with pytest.raises(grpc.RpcError) as err:
                client.recv()
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert f"does not match the certificate's {other}" in err.value.details()
        finally:
            client.close()
        assert server.rejected and server.rejected[-1][0] == NODE
        assert NODE not in server.statuses()


def test_client_without_certificate_is_refused(server, ca):
    client = Client(server.port, ca.cert_pem, cert=None)
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        with pytest.raises(grpc.RpcError) as err:
            client.recv()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        client.close()


def test_certificate_from_another_ca_is_refused(server, ca):
    other = bootstrap_authority(CertificateAuthority.create())
    client = Client(server.port, ca.cert_pem, node_cert(other))
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        with pytest.raises(grpc.RpcError) as err:
            client.recv()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        client.close()


def test_a_data_plane_certificate_does_not_open_ads(server, ca):
    """The mesh CA's identity certificates (what SDS serves, what sidecars trust) are not
    bootstrap credentials: the handshake fails."""
    client = Client(server.port, ca.cert_pem, ca.issue(Ident("shop", "web")))
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        with pytest.raises(grpc.RpcError) as err:
            client.recv()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        client.close()
    assert NODE not in server.statuses()


def test_node_id_with_dots_in_service_account_and_trust_domain():
    node = NodeId.parse("u-1.sidecar.api.reader.v2.shop.mesh.example.com", "mesh.example.com")
    assert (node.proxy_uuid, node.kind) == ("u-1", "sidecar")
    assert (node.service_account, node.namespace) == ("api.reader.v2", "shop")
    assert node.spiffe_id == "spiffe://mesh.example.com/ns/shop/sa/api.reader.v2"
    assert str(node) == "u-1.sidecar.api.reader.v2.shop.mesh.example.com"
    for bad, why in [
        ("u-1.sidecar.web.shop.other.domain", "not in trust domain"),
        ("u-1.sidecar.shop.cluster.local", "ServiceAccount name must not be empty"),
        ("U_1.sidecar.web.shop.cluster.local", "proxy UUID"),
        ("u-1.sidecar.Web.shop.cluster.local", "ServiceAccount name must consist"),
        ("x" * 2000 + ".cluster.local", "longer than 1024"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            NodeId.parse(bad, "cluster.local")


def test_a_start_cut_short_stops_the_grpc_server_it_had_started(monkeypatch):
    """Ctrl-C (or a timeout) while `start` waits for the server: the gRPC server already
    listening is stopped before the event loop closes. Left running, it kept its port until
    the process exited, where grpc's finalizer scheduled its shutdown on the closed loop and
    printed a traceback at the user (seen in `osm local run` stopped during start-up)."""
    import asyncio
    import socket
    from concurrent import futures

    ports: list[int] = []
    real_server = grpc.aio.server

    def server_that_starts_then_hangs(*args, **kwargs):  # type: ignore[no-untyped-def]
        server = real_server(*args, **kwargs)
        real_start, real_add_port = server.start, server.add_insecure_port

        def add_port(address: str) -> int:
            ports.append(real_add_port(address))
            return ports[-1]

        async def start() -> None:
            await real_start()
            await asyncio.sleep(30)  # the caller gives up while the server listens

        server.add_insecure_port = add_port  # type: ignore[method-assign]
        server.start = start  # type: ignore[method-assign]
        return server

    monkeypatch.setattr(grpc.aio, "server", server_that_starts_then_hangs)
    monkeypatch.setattr(AdsServer, "START_TIMEOUT_SECONDS", 1.0)
    with pytest.raises(futures.TimeoutError):
        AdsServer(SnapshotCache()).start()
    assert len(ports) == 1 and ports[0] > 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports[0]), timeout=2).close()
