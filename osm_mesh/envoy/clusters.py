"""Outbound clusters ``<ns>/<svc>|<port>`` (EDS, upstream mTLS) and their endpoints."""

from __future__ import annotations

from osm_mesh.catalog.model import Service
from osm_mesh.envoy import names, pb, resilience
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.model import HTTP_PROTOCOLS


def build_cluster(
    index: MeshIndex, service: Service, port: int
) -> tuple[pb.Cluster, pb.ClusterLoadAssignment]:
    """The cluster of a service port, checking the destination's SPIFFE ids, and its endpoints.

    Endpoints are pod IP:targetPort in cluster mode (the peer's iptables redirects them into
    its inbound listener), peer pod IP:inbound port in local mode.
    """
    catalog, opts = index.catalog, index.options
    name = names.outbound_cluster(service.namespace, service.name, port)
    sp = service.port(port)
    protocol = sp.protocol if sp is not None else "http"
    pods = catalog.pods_of_service(service)
    sans = sorted({p.identity.spiffe_id(index.trust_domain) for p in pods})
    if protocol in HTTP_PROTOCOLS:
        sni = names.service_sni(service.namespace, service.name)
        http2: bool | None = protocol == "grpc"
    else:
        sni = names.tcp_sni(service.namespace, service.name, port)
        http2 = None
    cluster = pb.eds_cluster(
        name, sni=sni, san_uris=sans, http2=http2, connect_timeout=opts.connect_timeout
    )
    resilience.apply_to_cluster(cluster, index.resilience.upstream_setting(service))
    endpoints: list[tuple[str, int]] = []
    if sp is not None:
        for ep in catalog.endpoints(service, sp):
            port_no = opts.inbound_port if opts.mode == "local" else ep.port
            endpoints.append((ep.ip, port_no))
    return cluster, pb.load_assignment(name, sorted(set(endpoints)))
