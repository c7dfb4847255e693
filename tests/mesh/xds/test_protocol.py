"""One ADS stream's protocol state without I/O (osm_mesh/xds/protocol.py): nonces, ACK, NACK."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from osm_mesh.xds.cache import CLUSTER, ROUTE, SnapshotCache
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


# -- types requested by name: a push carries only what changed ---------------------------------
def routes(**paths: str) -> dict:
    """One route table per name, its single route matching ``paths[name]``."""
    tables = {}
    for name, path in paths.items():
        route = route_components_pb2.Route(match=route_components_pb2.RouteMatch(prefix=path))
        host = route_components_pb2.VirtualHost(name=name, domains=["*"], routes=[route])
        tables[name] = route_pb2.RouteConfiguration(name=name, virtual_hosts=[host])
    return tables


def subscribed(cache: SnapshotCache, resources: dict) -> tuple[StreamProtocol, ProxyStatus, str]:
    """A stream that subscribed to CDS and to every route table of ``resources`` and ACKed
    both; returns the stream, its status and the RDS nonce."""
    status = ProxyStatus(NODE)
    stream = StreamProtocol(status)
    stream.on_snapshot(cache.set_snapshot(NODE, resources))
    (cds,) = stream.on_request(request())
    stream.on_request(request(version_info=cds.version_info, response_nonce=cds.nonce))
    names = sorted(resources[ROUTE])
    (rds,) = stream.on_request(rds_request(names))
    assert names_of(rds) == names  # the first answer holds everything asked for
    assert stream.on_request(rds_request(names, rds.version_info, rds.nonce)) == []
    return stream, status, rds.nonce


def rds_request(names: list[str], version: str = "", nonce: str = "", **kw):
    return discovery_pb2.DiscoveryRequest(
        type_url=ROUTE, resource_names=names, version_info=version, response_nonce=nonce, **kw
    )


def names_of(response: discovery_pb2.DiscoveryResponse) -> list[str]:
    out = []
    for any_msg in response.resources:
        table = route_pb2.RouteConfiguration()
        any_msg.Unpack(table)
        out.append(table.name)
    return out


def test_a_route_change_pushes_only_the_route_table_that_changed():
    cache = SnapshotCache()
    stream, status, _ = subscribed(cache, {**clusters("a"), ROUTE: routes(inbound="/v0", out="/")})
    pushed = stream.on_snapshot(
        cache.set_snapshot(NODE, {**clusters("a"), ROUTE: routes(inbound="/v1", out="/")})
    )
    assert [(r.type_url, names_of(r)) for r in pushed] == [(ROUTE, ["inbound"])]
    table = route_pb2.RouteConfiguration()
    pushed[0].resources[0].Unpack(table)
    assert table.virtual_hosts[0].routes[0].match.prefix == "/v1"
    # Its version is the snapshot's: the ACK converges the proxy as a whole response would.
    stream.on_request(rds_request(["inbound", "out"], pushed[0].version_info, pushed[0].nonce))
    assert status.converged_to(cache.get(NODE))


def test_everything_asked_for_goes_out_when_the_subscription_changes():
    cache = SnapshotCache()
    stream, _, nonce = subscribed(cache, {**clusters("a"), ROUTE: routes(a="/", b="/", c="/")})
    (rds,) = stream.on_request(rds_request(["a", "b", "c", "d"], stream.status.sent[ROUTE], nonce))
    assert names_of(rds) == ["a", "b", "c"]  # d does not exist; the others are sent again


def test_after_clusters_in_the_same_push_the_named_types_go_out_whole():
    """A changed Cluster is re-created warming and waits for its endpoints: a push that sends
    CDS sends every requested ClusterLoadAssignment, changed or not."""
    cache = SnapshotCache()
    stream, _, _ = subscribed(cache, {**clusters("a"), ROUTE: routes(x="/", y="/")})
    pushed = stream.on_snapshot(
        cache.set_snapshot(NODE, {**clusters("a", "b"), ROUTE: routes(x="/", y="/new")})
    )
    assert [(r.type_url, len(r.resources)) for r in pushed] == [(CLUSTER, 2), (ROUTE, 2)]


def test_after_a_nack_everything_goes_out_again():
    cache = SnapshotCache()
    stream, _, _ = subscribed(cache, {**clusters("a"), ROUTE: routes(x="/", y="/")})
    (first,) = stream.on_snapshot(
        cache.set_snapshot(NODE, {**clusters("a"), ROUTE: routes(x="/1", y="/")})
    )
    (second,) = stream.on_snapshot(
        cache.set_snapshot(NODE, {**clusters("a"), ROUTE: routes(x="/1", y="/2")})
    )
    assert names_of(first) == ["x"] and names_of(second) == ["y"]
    # The proxy rejects the first (x=/1) after the second was sent: it holds x's old table.
    rejected = status_pb2.Status(code=3, message="bad x")
    late = rds_request(["x", "y"], "", first.nonce, error_detail=rejected)
    assert stream.on_request(late) == []
    # Its ACK of the second is answered with both tables, so x=/1 reaches it after all.
    (again,) = stream.on_request(rds_request(["x", "y"], second.version_info, second.nonce))
    assert names_of(again) == ["x", "y"]
    # And the next push after a NACK of the current response carries everything too.
    current = rds_request(["x", "y"], again.version_info, again.nonce, error_detail=rejected)
    assert stream.on_request(current) == []
    (third,) = stream.on_snapshot(
        cache.set_snapshot(NODE, {**clusters("a"), ROUTE: routes(x="/1", y="/3")})
    )
    assert names_of(third) == ["x", "y"]
