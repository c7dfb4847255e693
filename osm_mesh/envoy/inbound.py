"""The inbound side of one pod: ``inbound-listener`` (mTLS), ``rds-inbound``, ``…|local`` clusters.

One HTTP filter chain (HCM → RDS: one virtual host per service port of the pod, each with its
RBAC policies) and one TCP filter chain per TCP service port (network RBAC → tcp_proxy).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from osm_mesh.catalog.model import Identity, Pod
from osm_mesh.envoy import names, pb, resilience, telemetry
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.model import HTTP_PROTOCOLS
from osm_mesh.envoy.outbound import host_domains
from osm_mesh.envoy.rbac import http_policies, network_rbac_for


class InboundResources(NamedTuple):
    """Route tables, listeners and local (app) clusters, each name → protobuf."""

    routes: dict[str, Any]
    listeners: dict[str, Any]
    local_clusters: dict[str, Any]
    services: frozenset[tuple[str, str]]  # the pod's services and the split roots they serve
    split_backends: frozenset[tuple[str, str]]  # its services that are split backends


def build_inbound(
    index: MeshIndex, pod: Pod | None, identity: Identity, bind_ip: str | None
) -> InboundResources:
    """The inbound route table, listener (none without ``bind_ip``) and local clusters."""
    opts, catalog = index.options, index.catalog
    routes: dict[str, Any] = {}
    listeners: dict[str, Any] = {}
    local_clusters: dict[str, Any] = {}
    app_host = pod.ip if opts.mode == "local" and pod is not None else "127.0.0.1"
    vhosts = []
    tcp_chains = []
    seen_tcp_ports: set[int] = set()
    inbound_domains: set[str] = set()
    services = catalog.services_of_pod(pod) if pod is not None else ()
    used = {svc.key for svc in services}
    # Whether a split root sends to a backend depends on the backend having endpoints.
    backends = frozenset(svc.key for svc in services if index.is_split_backend(svc))
    for svc in services:
        for sp in svc.ports:
            target = pod.resolve_port(sp.target_port) if pod is not None else None
            if target is None or sp.protocol == "udp":
                continue
            local_name = names.local_cluster(svc.namespace, svc.name, sp.port)
            http = sp.protocol in HTTP_PROTOCOLS
            local_clusters[local_name] = pb.static_cluster(
                local_name,
                app_host,
                # Local mode: the runtime may have moved the app off a privileged port.
                pod.local_port(target) if opts.mode == "local" and pod is not None else target,
                http2=(sp.protocol == "grpc") if http else None,
                connect_timeout=opts.connect_timeout,
            )
            if http:
                domains = host_domains(svc, sp.port, short=True)
                # A call to a TrafficSplit root keeps the root's Host on its way to a
                # backend (the article's canary: Host api.<ns>...), so backends answer to
                # their roots' names too. Each domain once per route table (Envoy rule).
                for root in index.split_roots_of(svc, sp.port):
                    domains += host_domains(root, sp.port, short=True)
                    used.add(root.key)
                domains = [d for d in dict.fromkeys(domains) if d not in inbound_domains]
                inbound_domains.update(domains)
                vhost = pb.VirtualHost(
                    name=f"inbound|{svc.namespace}/{svc.name}|{sp.port}",
                    domains=domains,
                    routes=inbound_routes(
                        index,
                        identity,
                        target,
                        local_name,
                        # Never cut a request the client's UpstreamTrafficSetting allows.
                        resilience.inbound_timeout(
                            index.timeout_for(sp), index.resilience.upstream_setting(svc)
                        ),
                    ),
                )
                # Permissive mode too gets RBAC ("any authenticated mesh peer"): switching modes
                # then only changes routes, never the listener (whose old connections would keep
                # the old filter chain while draining).
                vhost.typed_per_filter_config[names.HTTP_RBAC_FILTER].CopyFrom(
                    pb.rbac_per_route(http_policies(index, identity, target))
                )
                vhosts.append(vhost)
                continue
            # In cluster mode TCP chains are told apart by the original destination port, so
            # two services sharing a target port share one chain (the first one's).
            if opts.mode == "cluster" and target in seen_tcp_ports:
                continue
            seen_tcp_ports.add(target)
            match = pb.listener_components_pb2.FilterChainMatch()
            if opts.mode == "local":
                match.server_names.append(names.tcp_sni(svc.namespace, svc.name, sp.port))
            else:
                match.destination_port.value = target
            filters = [
                network_rbac_for(index, identity, target, svc, sp),
                pb.tcp_proxy(f"inbound-tcp-{svc.name}-{sp.port}", local_name),
            ]
            tcp_chains.append(
                pb.listener_components_pb2.FilterChain(
                    name=f"inbound-tcp|{svc.namespace}/{svc.name}|{sp.port}",
                    filter_chain_match=match,
                    filters=filters,
                    transport_socket=pb.downstream_tls(index.trust_domain),
                )
            )
    routes[names.INBOUND_ROUTE] = pb.RouteConfiguration(
        name=names.INBOUND_ROUTE, virtual_hosts=vhosts, validate_clusters={"value": False}
    )
    if bind_ip is None:
        return InboundResources(routes, listeners, local_clusters, frozenset(used), backends)
    http_chain = pb.listener_components_pb2.FilterChain(
        name="inbound-http",
        filters=[
            pb.http_connection_manager(
                "inbound",
                names.INBOUND_ROUTE,
                rbac=True,
                forward_client_cert=opts.forward_client_cert,
                # osm_request_total / osm_request_duration_ms for this pod's workload.
                access_log=[telemetry.request_stats_logger(pod)] if pod is not None else (),
            )
        ],
        transport_socket=pb.downstream_tls(index.trust_domain),
    )
    listener = pb.Listener(
        name=names.INBOUND_LISTENER,
        address=pb.socket_address(bind_ip, opts.inbound_port),
        filter_chains=[*tcp_chains, http_chain],
        listener_filters=[pb.TLS_INSPECTOR],
    )
    if opts.mode == "cluster":
        listener.listener_filters.insert(0, pb.ORIGINAL_DST)
    listeners[names.INBOUND_LISTENER] = listener
    return InboundResources(routes, listeners, local_clusters, frozenset(used), backends)


DEFAULT_ROUTE = "[default]"


def inbound_routes(
    index: MeshIndex, identity: Identity, target: int, local_cluster: str, timeout: float
) -> list[Any]:
    """One named route per HTTPRouteGroup match allowed towards this port, then a catch-all.

    They all lead to the app: access is the RBAC filter's business. The names are what the
    request metrics' ``route`` label carries (``osm stat --routes``); a request counts under
    the first match it meets, in TrafficTarget order, else under ``[default]``.
    """
    from osm_mesh.policy import ALL

    routes = []
    seen: set[tuple[object, ...]] = set()
    for allowance in index.allowances(identity):
        if not allowance.allows_port(target) or allowance.http is ALL or not allowance.http:
            continue
        for m in allowance.http:  # type: ignore[union-attr]
            methods = () if m.any_method else tuple(sorted(m.methods))
            key = (m.envoy_path_regex(), methods, m.headers)
            if key in seen:
                continue
            seen.add(key)
            route = pb.route_to(pb.route_match(*key), [(local_cluster, 1)], timeout)
            route.name = m.name
            routes.append(route)
    catch_all = pb.route_to(pb.route_match(), [(local_cluster, 1)], timeout)
    catch_all.name = DEFAULT_ROUTE
    return [*routes, catch_all]
