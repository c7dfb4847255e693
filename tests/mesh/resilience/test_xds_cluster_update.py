"""An updated Cluster (new circuit breakers, same endpoints) is re-created warming by Envoy, which
asks for its endpoints again at the version it already has: the ADS server must answer, or the
cluster update is never ACKed (found by the circuit-breaker test on real Envoy)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from osm_mesh.envoy.resilience import circuit_breakers
from osm_mesh.smi.policy_ext import ConnectionSettings
from osm_mesh.xds.cache import CLUSTER, ENDPOINT
from tests.mesh.xds.test_server import NODE, Client, boot_ca, ca, node_cert, server  # noqa: F401 (fixtures)


def resources(max_connections: int | None) -> dict:
    cluster = cluster_pb2.Cluster(name="c", type=cluster_pb2.Cluster.EDS)
    if max_connections is not None:
        breakers = circuit_breakers(ConnectionSettings(max_connections=max_connections))
        assert breakers is not None
        cluster.circuit_breakers.CopyFrom(breakers)
    return {
        CLUSTER: {"c": cluster},
        ENDPOINT: {"c": endpoint_pb2.ClusterLoadAssignment(cluster_name="c")},
    }


def test_endpoints_resent_for_an_updated_cluster(server, ca, boot_ca):  # noqa: F811
    server.cache.set_snapshot(NODE, resources(None))
    # The bootstrap certificate the injector gives the proxy (what ADS now trusts).
    client = Client(server.port, ca.cert_pem, node_cert(boot_ca))
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        cds = client.recv()
        client.send(type_url=CLUSTER, version_info=cds.version_info, response_nonce=cds.nonce)
        client.send(type_url=ENDPOINT, resource_names=["c"])
        eds = client.recv()
        assert eds.type_url == ENDPOINT
        client.send(
            type_url=ENDPOINT,
            resource_names=["c"],
            version_info=eds.version_info,
            response_nonce=eds.nonce,
        )

        server.cache.set_snapshot(NODE, resources(1))
        update = client.recv()
        assert update.type_url == CLUSTER and update.version_info != cds.version_info
        # Envoy, warming the new cluster: the same EDS names at the version it has.
        client.send(
            type_url=ENDPOINT,
            resource_names=["c"],
            version_info=eds.version_info,
            response_nonce=eds.nonce,
        )
        again = client.recv()
        assert again.type_url == ENDPOINT and again.version_info == eds.version_info
        assert [r.type_url for r in again.resources] == [ENDPOINT]
        client.send(type_url=CLUSTER, version_info=update.version_info, response_nonce=update.nonce)
        assert server.wait_for(lambda st: st[NODE].acked.get(CLUSTER) == update.version_info, 5)
    finally:
        client.close()
