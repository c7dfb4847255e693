"""One ADS stream's protocol state without I/O (osm_mesh/xds/protocol.py): nonces, ACK, NACK."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from osm_mesh.xds.cache import CLUSTER, SnapshotCache
from osm_mesh.xds.protocol import ProxyStatus, StreamProtocol

NODE = "uuid-1.sidecar.web.shop.cluster.local"


def clusters(*names: str) -> dict:
    return {CLUSTER: {n: cluster_pb2.Cluster(name=n) for n in names}}


def request(**kw) -> discovery_pb2.DiscoveryRequest:
    return discovery_pb2.DiscoveryRequest(type_url=CLUSTER, **kw)


def test_a_request_with_a_stale_nonce_is_neither_an_ack_nor_a_nack():
    cache = SnapshotCache()
    status = ProxyStatus(NODE)
    stream = StreamProtocol(status)
    stream.on_snapshot(cache.set_snapshot(NODE, clusters("a")))
    (first,) = stream.on_request(request())
    assert stream.on_request(request(version_info="1", response_nonce=first.nonce)) == []
    assert status.acked == {CLUSTER: "1"}
    (second,) = stream.on_snapshot(cache.set_snapshot(NODE, clusters("a", "b")))
    assert second.version_info == "2" and second.nonce != first.nonce

    # Answers to the superseded response (nonce of the first): ignored, whatever they claim.
    assert stream.on_request(request(version_info="2", response_nonce=first.nonce)) == []
    nack = status_pb2.Status(code=3, message="late complaint")
    late = request(version_info="1", response_nonce=first.nonce, error_detail=nack)
    assert stream.on_request(late) == []
    assert status.acked == {CLUSTER: "1"} and status.nacks == []

    # The answer to the current nonce counts.
    assert stream.on_request(request(version_info="2", response_nonce=second.nonce)) == []
    assert status.acked == {CLUSTER: "2"}
    current = request(version_info="2", response_nonce=second.nonce, error_detail=nack)
    stream.on_request(current)
    assert [(n.version, n.message) for n in status.nacks] == [("2", "late complaint")]
