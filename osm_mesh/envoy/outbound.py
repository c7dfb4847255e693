"""The outbound side: ``outbound-listener``, ``rds-outbound`` (Host forms, splits), egress.

A virtual host per reachable service port, matched on every Host form (``svc``, ``svc.ns``,
``svc.ns.svc``, ``svc.ns.svc.cluster.local``, each with ``:port``; without a port only for
port 80). TrafficSplits become weighted clusters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from osm_mesh.catalog.model import Catalog, Identity, Service, ServicePort
from osm_mesh.envoy import names, pb, resilience
from osm_mesh.envoy.explain import explain_vhosts
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.model import HTTP_PROTOCOLS
from osm_mesh.policy import split_backends, split_for, split_matches
from osm_mesh.smi.model import HTTPMatch

# The (memoized) builders of one service port's cluster + endpoints and virtual host.
ClusterOf = Callable[[Service, int], tuple[pb.Cluster, pb.ClusterLoadAssignment]]
VhostOf = Callable[[Service, ServicePort, bool], pb.VirtualHost]


class OutboundTable(NamedTuple):
    """Everything one source may call: shared by every proxy with the same reachable set."""

    route: pb.RouteConfiguration
    clusters: dict[str, pb.Cluster]
    endpoints: dict[str, pb.ClusterLoadAssignment]
    tcp: tuple[tuple[int, str], ...]  # (port, cluster) of TCP services (cluster mode)
    services: frozenset[tuple[str, str]]  # every service whose data is in the table
    clustered: frozenset[tuple[str, str]]  # services whose clusters are in the table


def build_outbound_table(
    index: MeshIndex, source: Identity, cluster_of: ClusterOf, vhost_of: VhostOf
) -> OutboundTable:
    """Everything ``source`` may call, from the shared clusters and virtual hosts."""
    vhosts = []
    clusters: dict[str, pb.Cluster] = {}
    endpoints: dict[str, pb.ClusterLoadAssignment] = {}
    tcp: dict[int, str] = {}
    used: set[tuple[str, str]] = set()
    clustered: set[tuple[str, str]] = set()
    for svc, sp in index.outbound_services(source):
        used.add(svc.key)
        if sp.protocol not in HTTP_PROTOCOLS:
            # Cluster mode: iptables + the original destination port; local mode: a listener
            # on the caller's own address at the service port (local_tcp_listeners). Without
            # Service cluster IPs the port alone selects the service, so the first service
            # (sorted) on a port wins.
            if sp.port not in tcp:
                cluster, cla = cluster_of(svc, sp.port)
                clusters[cluster.name] = cluster
                endpoints[cla.cluster_name] = cla
                tcp[sp.port] = cluster.name
                clustered.add(svc.key)
            continue
        vhost = vhost_of(svc, sp, svc.namespace == source.namespace)
        vhost = resilience.with_source_policies(
            vhost,
            index.resilience.retry_for(source, svc),
            index.resilience.fault_for(source, svc),
        )
        vhosts.append(vhost)
        for target_svc, port in route_targets(index.catalog, svc, sp.port):
            used.add(target_svc.key)
            clustered.add(target_svc.key)
            cluster, cla = cluster_of(target_svc, port)
            clusters[cluster.name] = cluster
            endpoints[cla.cluster_name] = cla
    if index.egress:
        if not index.catalog.permissive and index.catalog.monitored_namespaces:
            # A mesh service this proxy may not call is not egress: sent to its original
            # destination it would only meet the service's mTLS listener and be reset (a bare
            # 503). Its names get the policy's 403 instead (found on a real node).
            vhosts.append(pb.deny_mesh_hosts_vhost(sorted(index.catalog.monitored_namespaces)))
        # Unknown hosts leave the mesh to their original destination (OSM's egress).
        vhosts.append(pb.passthrough_vhost(index.options.route_timeout))
        clusters[names.PASSTHROUGH_CLUSTER] = index.passthrough
    elif index.options.mode == "local":
        # Every miss answered with its reason (explain.py): the table now depends on every
        # service of the catalog, so a change to any of them concerns this table.
        callable_keys = {svc.key for svc, sp in index.outbound_services(source)}
        taken = {domain for vhost in vhosts for domain in vhost.domains}
        services = [s for s in index.catalog.services]
        vhosts.extend(
            explain_vhosts(
                services, source, callable_keys, taken, smi_mode=not index.catalog.permissive
            )
        )
        used.update(s.key for s in services)
    elif not index.catalog.permissive:
        # SMI mode: a host this proxy has no route to is a destination no TrafficTarget
        # lets it call (or not a mesh service at all): 403 here rather than a bare 404.
        vhosts.append(pb.DENY_UNLISTED_VHOST)
    route = pb.RouteConfiguration(
        name=names.OUTBOUND_ROUTE, virtual_hosts=vhosts, validate_clusters={"value": False}
    )
    return OutboundTable(
        route,
        dict(sorted(clusters.items())),
        dict(sorted(endpoints.items())),
        tuple(sorted(tcp.items())),
        frozenset(used),
        frozenset(clustered),
    )


def build_vhost(
    index: MeshIndex, service: Service, sp: ServicePort, same_namespace: bool
) -> pb.VirtualHost:
    """The outbound virtual host of one service port (source-independent policies only)."""
    return pb.VirtualHost(
        name=names.outbound_cluster(service.namespace, service.name, sp.port),
        domains=host_domains(service, sp.port, short=same_namespace),
        routes=resilience.with_timeouts(
            _routes(index.catalog, service, sp.port, index.timeout_for(sp)),
            index.resilience.upstream_setting(service),
        ),
    )


def route_targets(catalog: Catalog, service: Service, port: int) -> list[tuple[Service, int]]:
    """The (service, port) clusters the virtual host of a service port sends to."""
    targets = [(service, port)]
    targets += [(svc, port) for svc, _ in split_backends(catalog, service, port)]
    return targets


def _routes(catalog: Catalog, service: Service, port: int, timeout: float) -> list[pb.Route]:
    root = [(names.outbound_cluster(service.namespace, service.name, port), 1)]
    backends = [
        (names.outbound_cluster(svc.namespace, svc.name, port), weight)
        for svc, weight in split_backends(catalog, service, port)
    ]
    if not backends:
        return [pb.route_to(pb.route_match(), root, timeout)]
    split = split_for(catalog, service)
    matches = split_matches(catalog, split) if split is not None else None
    if matches is None:
        return [pb.route_to(pb.route_match(), backends, timeout)]
    # split v1alpha3+: only matching requests are split; the rest go to the root itself.
    routes = [pb.route_to(_route_match(m), backends, timeout) for m in matches]
    routes.append(pb.route_to(pb.route_match(), root, timeout))
    return routes


def _route_match(m: HTTPMatch):
    methods = () if m.any_method else tuple(sorted(m.methods))
    return pb.route_match(m.envoy_path_regex(), methods, m.headers)


def host_domains(service: Service, port: int, *, short: bool) -> list[str]:
    """Host header values that mean this service port.

    Without ``:port`` only for port 80 (what an HTTP client sends for the default port).
    The bare ``svc`` name only for clients in the service's namespace (it is ambiguous
    elsewhere, and Envoy rejects a route table with duplicate domains).
    """
    bases = [
        f"{service.name}.{service.namespace}",
        f"{service.name}.{service.namespace}.svc",
        f"{service.name}.{service.namespace}.svc.cluster.local",
    ]
    if short:
        bases.insert(0, service.name)
    out = [f"{b}:{port}" for b in bases]
    if port == 80:
        out = bases + out
    return out


def local_tcp_listeners(
    bind_ip: str, tcp: tuple[tuple[int, str], ...], taken: set[int]
) -> dict[str, pb.Listener]:
    """Local mode: one listener per TCP service port on the caller's own address
    (``$POD_IP:<port>``, announced to the app as ``<SVC>_SERVICE_HOST``/``_PORT``), proxying
    over mTLS to the service; none on a port the pod already uses (``taken``)."""
    return {
        f"outbound-tcp|{port}": pb.Listener(
            name=f"outbound-tcp|{port}",
            address=pb.socket_address(bind_ip, port),
            filter_chains=[
                pb.listener_components_pb2.FilterChain(
                    name=f"outbound-tcp|{port}",
                    filters=[pb.tcp_proxy(f"outbound-tcp-{port}", cluster)],
                )
            ],
        )
        for port, cluster in tcp
        if port not in taken
    }


def build_outbound_listener(
    index: MeshIndex, bind_ip: str, tcp: tuple[tuple[int, str], ...]
) -> pb.Listener:
    """``outbound-listener`` on ``bind_ip``: one chain per TCP port, then HTTP (and egress)."""
    opts = index.options
    if opts.mode == "local":
        tcp = ()  # local mode: listeners of their own (local_tcp_listeners)
    chains = [
        pb.listener_components_pb2.FilterChain(
            name=f"outbound-tcp|{port}",
            filter_chain_match=pb.listener_components_pb2.FilterChainMatch(
                destination_port={"value": port}
            ),
            filters=[pb.tcp_proxy(f"outbound-tcp-{port}", cluster)],
        )
        for port, cluster in tcp
    ]
    http_chain = pb.listener_components_pb2.FilterChain(
        name="outbound-http",
        filters=[
            pb.http_connection_manager(
                "outbound",
                names.OUTBOUND_ROUTE,
                rbac=False,
                extra_filters=(resilience.FAULT_FILTER,),
            )
        ],
    )
    if index.egress:
        # Non-HTTP traffic to unknown destinations passes through untouched.
        http_chain.filter_chain_match.application_protocols.extend(pb.HTTP_APPLICATION_PROTOCOLS)
    chains.append(http_chain)
    listener = pb.Listener(
        name=names.OUTBOUND_LISTENER,
        address=pb.socket_address(bind_ip, opts.outbound_port),
        filter_chains=chains,
    )
    if opts.mode == "cluster":
        listener.listener_filters.append(pb.ORIGINAL_DST)
    if index.egress:
        listener.listener_filters.append(pb.HTTP_INSPECTOR)
        listener.default_filter_chain.CopyFrom(
            pb.listener_components_pb2.FilterChain(
                name="outbound-egress-tcp",
                filters=[pb.tcp_proxy("outbound-egress", names.PASSTHROUGH_CLUSTER)],
            )
        )
    return listener
