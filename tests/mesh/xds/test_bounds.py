"""ADS is bounded (issue 11 item 6): each test attacks a real gRPC server over real mutual TLS
and fails without the bound it names. Memory figures are in benchmarks/bench_ads_bounds.py."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

from osm_mesh.certs import CertificateAuthority
from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.xds.cache import CLUSTER, ENDPOINT, SnapshotCache
from osm_mesh.xds.server import AdsLimits, AdsServer, ServerTLS
from tests.mesh.xds.ads_client import CONTROLLER_SAN, AdsClient

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


@pytest.fixture(scope="module")
def web_cert(boot_ca):
    """The bootstrap certificate of NODE, as in its pod's Secret."""
    return issue_bootstrap(boot_ca, NODE)


def start_server(ca, **limits) -> AdsServer:
    cert = ca.issue_for_names(common_name=CONTROLLER_SAN, dns_names=[CONTROLLER_SAN])
    server = AdsServer(
        SnapshotCache(),
        tls=ServerTLS(cert.cert_pem, cert.key_pem, bootstrap_authority(ca).cert_pem),
        limits=AdsLimits(**limits),
    )
    server.start()
    return server


@pytest.fixture
def server(ca):
    srv = start_server(ca)
    yield srv
    srv.stop(grace=None)


def client(server, ca, cert) -> AdsClient:
    assert server.port is not None
    return AdsClient(server.port, ca_pem=ca.cert_pem, cert_pem=cert.cert_pem, key_pem=cert.key_pem)


def raw_stream(server, ca, cert):
    """A stub call fed by a generator, for clients that never read their responses."""
    creds = grpc.ssl_channel_credentials(ca.cert_pem, cert.key_pem, cert.cert_pem)
    channel = grpc.secure_channel(
        f"127.0.0.1:{server.port}",
        creds,
        options=[("grpc.ssl_target_name_override", CONTROLLER_SAN)],
    )
    return channel, ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)


def refusal(c: AdsClient, node_id: str = NODE, timeout: float = 10.0) -> grpc.RpcError:
    c.send(node=base_pb2.Node(id=node_id), type_url=CLUSTER)
    with pytest.raises(grpc.RpcError) as err:
        c.recv(timeout)
    return err.value


def big_endpoints(name: str, count: int = 2000):
    from envoy.config.endpoint.v3 import endpoint_pb2

    from osm_mesh.envoy import pb

    cla = pb.load_assignment(name, [(f"10.0.{i // 250}.{i % 250}", 8080) for i in range(count)])
    assert isinstance(cla, endpoint_pb2.ClusterLoadAssignment)
    return cla


def test_writer_that_never_reads_is_held_back(server, ca, web_cert):
    """The attack: one stream sends requests that each earn a response and never reads one.
    Before: every request was read into an unbounded queue (400k requests took the
    controller 59 → 971 MiB). Now the server stops reading once a few wait, so the client's
    own sends block."""
    names = ["c0", "c1"]
    server.cache.set_snapshot(NODE, {ENDPOINT: {n: big_endpoints(n) for n in names}})
    offered = 50_000
    sent = 0
    finished = threading.Event()

    def requests():
        nonlocal sent
        yield discovery_pb2.DiscoveryRequest(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        for i in range(offered):
            sent += 1
            # Alternating names: each request changes the subscription, so each is answered
            # (with ~40 KB of endpoints); the padding makes each request ~1 KB.
            yield discovery_pb2.DiscoveryRequest(
                type_url=ENDPOINT, resource_names=[names[i % 2], "pad-" + "x" * 1000]
            )
        finished.wait(60)  # keep the stream open (no half-close) until the test is done

    channel, stub = raw_stream(server, ca, web_cert)
    call = stub.StreamAggregatedResources(requests())  # never read
    try:
        assert server.wait_for(lambda st: NODE in st, 10)
        # Wait until the server stops making progress: back-pressure has set in.
        last, still = -1, 0
        deadline = time.monotonic() + 60
        while still < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
            read, high_water = server.backlog()[NODE]
            still = still + 1 if read == last else 0
            last = read
        read, high_water = server.backlog()[NODE]
        assert high_water <= server.limits.request_queue
        assert read < 1000, f"the server read {read} of {offered} requests"
        assert sent < offered, "the client was never held back"
    finally:
        finished.set()
        call.cancel()
        channel.close()


def test_oversized_message_is_refused_before_it_is_parsed(server, ca, web_cert):
    """A 3 MiB node id (the attack kept 100 of them: 59 → 753 MiB) is over the message cap:
    gRPC refuses it before our code sees it."""
    with client(server, ca, web_cert) as c:
        err = refusal(c, "u." + "a" * (3 << 20) + ".cluster.local")
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not server.rejected and not server.statuses()


def test_refused_streams_are_remembered_bounded_and_shortened(ca, web_cert):
    """Long node ids under the message cap (each not the certificate's) are refused; what
    is kept of refused streams is bounded in count and in size."""
    server = start_server(ca, rejected_log=10)
    try:
        long_id = "u." + "a" * 200_000 + ".shop.cluster.local"
        for _ in range(25):
            with client(server, ca, web_cert) as c:
                err = refusal(c, long_id)
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "does not match the certificate's" in (err.details() or "")
            assert len(err.details() or "") < 500
        assert len(server.rejected) == 10
        assert all(len(node) < 250 and len(reason) < 500 for node, reason in server.rejected)
    finally:
        server.stop(grace=None)


def test_streams_per_identity_are_limited(ca, boot_ca):
    """One identity cannot open streams without end: the 4th of a limit of 3 is refused
    (each proxy with a certificate of its own); when one closes, another may open."""
    server = start_server(ca, max_streams_per_identity=3)
    clients = []
    try:
        nodes = [f"uuid-{i}.sidecar.web.shop.cluster.local" for i in range(5)]
        for node in nodes:
            server.cache.set_snapshot(node, {CLUSTER: {}})
        for node in nodes[:3]:
            c = client(server, ca, issue_bootstrap(boot_ca, node))
            clients.append(c)
            c.send(node=base_pb2.Node(id=node), type_url=CLUSTER)
            c.recv()
        with client(server, ca, issue_bootstrap(boot_ca, nodes[3])) as c:
            err = refusal(c, nodes[3])
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "3 streams are open for shop/web" in (err.details() or "")
        clients.pop().close()
        assert server.wait_for(lambda st: sum(s.connected for s in st.values()) == 2, 5)
        with client(server, ca, issue_bootstrap(boot_ca, nodes[4])) as c:
            c.send(node=base_pb2.Node(id=nodes[4]), type_url=CLUSTER)
            assert c.recv().type_url == CLUSTER
    finally:
        for c in clients:
            c.close()
        server.stop(grace=None)


def test_a_newer_stream_of_the_same_node_replaces_the_older(server, ca, web_cert):
    server.cache.set_snapshot(NODE, {CLUSTER: {}})
    with client(server, ca, web_cert) as first:
        first.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        first.recv()
        # The streams are admitted as they open (from the certificate): open the second now.
        with client(server, ca, web_cert) as second:
            second.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
            second.recv()
            with pytest.raises(grpc.RpcError) as err:
                first.recv()
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "replaced by a newer stream" in (err.value.details() or "")
            assert server.statuses()[NODE].connected
    assert len(server.backlog()) <= 1


def test_a_stream_that_never_names_its_node_is_closed(ca, web_cert):
    server = start_server(ca, first_request_seconds=0.5)
    try:
        with client(server, ca, web_cert) as c, pytest.raises(grpc.RpcError) as err:
            c.recv(10)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        server.stop(grace=None)


def test_nack_floods_are_kept_short_and_logged_once(server, ca, web_cert, caplog):
    server.cache.set_snapshot(NODE, {CLUSTER: {}})
    caplog.set_level(logging.WARNING, logger="osm_mesh.xds")
    with client(server, ca, web_cert) as c:
        c.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        response = c.recv()
        for _ in range(200):
            c.send(
                type_url=CLUSTER,
                response_nonce=response.nonce,
                error_detail=status_pb2.Status(code=3, message="n" * 100_000),
            )
        # The NACKs are handled in order: one more request after them tells when all were.
        c.send(type_url=CLUSTER, version_info=response.version_info, response_nonce=response.nonce)
        assert server.wait_for(lambda st: st[NODE].acked.get(CLUSTER) == response.version_info, 10)
    nacks = server.statuses()[NODE].nacks
    assert len(nacks) == 20 and all(len(n.message) <= 1100 for n in nacks)
    rejected_lines = [r for r in caplog.records if "rejected CDS" in r.getMessage()]
    assert len(rejected_lines) == 1
    assert len(rejected_lines[0].getMessage()) < 2000


def test_streams_per_certificate_are_limited_before_anything_is_read(ca, web_cert):
    """Streams are counted against their client certificate as they open: over the limit,
    a stream is refused before the server reads a byte of it or admits it (so one stolen
    credential cannot make the server hold many streams, nor even replace the live one)."""
    server = start_server(ca, max_streams_per_certificate=1)
    try:
        server.cache.set_snapshot(NODE, {CLUSTER: {}})
        with client(server, ca, web_cert) as live:
            live.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
            live.recv()
            with client(server, ca, web_cert) as second, pytest.raises(grpc.RpcError) as err:
                second.recv(10)  # nothing sent: refused on opening
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "1 streams are open with the certificate of" in (err.value.details() or "")
            assert server.rejected[-1][0] == "-"
            assert server.statuses()[NODE].connected  # the live stream was not replaced
        # Closed streams no longer count.
        assert _eventually(lambda: not server.ledger.sizes()["certificates_streams"])
        with client(server, ca, web_cert) as again:
            again.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
            assert again.recv().type_url == CLUSTER
    finally:
        server.stop(grace=None)


def _eventually(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_stream_replaced_before_it_named_its_node_is_told_so(server, ca, web_cert):
    """A stream whose node got a newer stream before its own first request ends with the
    reason (UNAVAILABLE), not as if it had finished normally."""
    server.cache.set_snapshot(NODE, {CLUSTER: {}})
    with client(server, ca, web_cert) as silent:
        time.sleep(0.3)  # admitted from its certificate; sends nothing
        with client(server, ca, web_cert) as newer:
            newer.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
            newer.recv()
            with pytest.raises(grpc.RpcError) as err:
                silent.recv(10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "replaced by a newer stream" in (err.value.details() or "")
