"""Names and ports of the Envoy resources the mesh produces (see docs/dataplane.md).

Cluster names follow upstream OSM (``<ns>/<svc>|<port>``, ``…|local`` for the app side) so
``osm proxy get`` output and dashboards look familiar.
"""

from __future__ import annotations

INBOUND_PORT = 15003
OUTBOUND_PORT = 15001
ADMIN_PORT = 15000
PROMETHEUS_PORT = 15010

INBOUND_LISTENER = "inbound-listener"
OUTBOUND_LISTENER = "outbound-listener"
INBOUND_ROUTE = "rds-inbound"
OUTBOUND_ROUTE = "rds-outbound"

# Fixed SDS names: every proxy asks for the same two secrets, each answered with its own
# content. This keeps clusters identical across proxies (shareable) and lets rotation change
# only the secret.
SECRET_SERVICE_CERT = "service-cert"
SECRET_ROOT_CERT = "root-cert"

HTTP_RBAC_FILTER = "envoy.filters.http.rbac"
# Egress (MeshConfig enableEgress, cluster mode): traffic to non-mesh destinations.
PASSTHROUGH_CLUSTER = "passthrough-outbound"


def outbound_cluster(namespace: str, service: str, port: int) -> str:
    return f"{namespace}/{service}|{port}"


def local_cluster(namespace: str, service: str, port: int) -> str:
    return f"{namespace}/{service}|{port}|local"


def service_sni(namespace: str, service: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def tcp_sni(namespace: str, service: str, port: int) -> str:
    """SNI that selects a TCP port's filter chain on the peer's inbound listener."""
    return f"tcp-{port}.{service}.{namespace}.svc.cluster.local"
