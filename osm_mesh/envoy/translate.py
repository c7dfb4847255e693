"""Catalog + proxy identity → Envoy v3 resources (pure: same inputs, same resources).

What each proxy gets (docs/dataplane.md has the full picture):

- ``inbound-listener`` (15003): mTLS with a required client certificate from the mesh CA.
  One HTTP filter chain (HCM → RDS ``rds-inbound``: one virtual host per service port of the pod,
  each carrying its Envoy RBAC policies built from ``osm_mesh.policy.inbound_rules``) and one
  TCP filter chain per TCP service port (network RBAC → tcp_proxy). Plaintext never completes
  the handshake; an authenticated peer that no TrafficTarget allows gets HTTP 403 (TCP: the
  connection is closed).
- ``outbound-listener`` (15001): HCM → RDS ``rds-outbound`` with a virtual host per reachable
  service port, matched on every Host form (``svc``, ``svc.ns``, ``svc.ns.svc``,
  ``svc.ns.svc.cluster.local``, each with ``:port``; without a port only for port 80).
  TrafficSplits become weighted clusters.
- clusters ``<ns>/<svc>|<port>`` (EDS, upstream mTLS checking the destination's SPIFFE ids)
  and ``…|local`` (the app); endpoints over EDS; SDS secrets ``service-cert`` / ``root-cert``.

Modes (``TranslateOptions.mode``):
- ``cluster``: iptables sends traffic to 0.0.0.0:15001/15003; endpoints are pod IP:targetPort
  (the peer's iptables redirects them into its inbound listener); the app is on 127.0.0.1.
- ``local``: no iptables; listeners bind the pod's own loopback IP; apps use the outbound
  listener as an HTTP proxy (absolute-form URIs); endpoints are peer pod IP:15003; the inbound
  side forwards to the app at <pod ip>:<targetPort> (or the unprivileged port the local runtime
  moved it to: ``Pod.local_port``).

Resources that do not depend on the proxy (clusters, endpoints, outbound virtual hosts) are
built once per catalog in a :class:`MeshIndex` and shared by every proxy's snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from google.protobuf.message import Message

from osm_mesh.catalog.model import Catalog, Identity, Pod, Service, ServicePort
from osm_mesh.envoy import names, pb, resilience
from osm_mesh.policy import ALL, Allowance, inbound_rules, split_backends, split_for, split_matches
from osm_mesh.smi.model import HTTPMatch
from osm_mesh.xds.cache import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET

Mode = Literal["cluster", "local"]
HTTP_PROTOCOLS = ("http", "grpc")


@dataclass(frozen=True)
class TranslateOptions:
    mode: Mode = "cluster"
    inbound_port: int = names.INBOUND_PORT
    outbound_port: int = names.OUTBOUND_PORT
    connect_timeout: float = 1.0
    # Per-request timeout on HTTP routes (Envoy's default is also 15 s). gRPC routes get none:
    # streaming calls may legitimately last for hours.
    route_timeout: float = 15.0
    # Pass the caller's identity to the app in x-forwarded-client-cert.
    forward_client_cert: bool = True


@dataclass(frozen=True)
class ProxyIdentity:
    """Who a connected Envoy is: its proxy UUID and ServiceAccount identity (from the node id).

    ``pod_name`` is a fallback lookup when the catalog has no pod with that proxy UUID.
    """

    proxy_uuid: str
    identity: Identity
    pod_name: str | None = None


class CertLike(Protocol):
    @property
    def cert_pem(self) -> bytes: ...

    @property
    def key_pem(self) -> bytes: ...

    @property
    def ca_pem(self) -> bytes: ...


@dataclass
class Resources:
    """One proxy's resources by kind, each name → protobuf (deterministic order by name).

    ``outbound_clusters`` / ``endpoints`` are shared with every proxy that reaches the same
    services (never mutate them); ``local_clusters`` are this proxy's own. ``by_type`` hands
    the shared parts to the SnapshotCache as separate groups so it serializes them once.
    """

    listeners: dict[str, Message] = field(default_factory=dict)
    routes: dict[str, Message] = field(default_factory=dict)
    local_clusters: dict[str, Message] = field(default_factory=dict)
    outbound_clusters: dict[str, Message] = field(default_factory=dict)
    endpoints: dict[str, Message] = field(default_factory=dict)
    secrets: dict[str, Message] = field(default_factory=dict)
    # Why something expected is absent (pod not in the catalog, ...).
    notes: tuple[str, ...] = ()

    @property
    def clusters(self) -> dict[str, Message]:
        return dict(sorted({**self.outbound_clusters, **self.local_clusters}.items()))

    def flat(self) -> dict[str, dict[str, Message]]:
        """Type URL → {name: message}, every group merged, sorted by name."""
        out: dict[str, dict[str, Message]] = {}
        for type_url, value in self.by_type().items():
            merged: dict[str, Message] = {}
            for part in value if isinstance(value, list) else [value]:
                merged.update(part)
            out[type_url] = dict(sorted(merged.items()))
        return out

    def by_type(self) -> dict[str, Any]:
        return {
            LISTENER: dict(sorted(self.listeners.items())),
            ROUTE: dict(sorted(self.routes.items())),
            CLUSTER: [dict(sorted(self.local_clusters.items())), self.outbound_clusters],
            ENDPOINT: [self.endpoints],
            SECRET: dict(sorted(self.secrets.items())),
        }


# -- per-catalog index ---------------------------------------------------------------------------
class MeshIndex:
    """Everything proxy-independent, computed once per (catalog, options)."""

    def __init__(self, catalog: Catalog, options: TranslateOptions) -> None:
        self.catalog = catalog
        self.options = options
        self.trust_domain = catalog.trust_domain
        self._lock = threading.RLock()
        self._allowances: dict[Identity, list[Allowance]] = {}
        self._clusters: dict[tuple[str, str, int], tuple[pb.Cluster, pb.ClusterLoadAssignment]] = {}
        self._vhosts: dict[tuple[str, str, int, bool], pb.VirtualHost] = {}
        self._outbound: dict[Identity, tuple[tuple[Service, ServicePort], ...]] = {}
        self._outbound_tables: dict[object, Any] = {}
        self._outbound_listeners: dict[object, pb.Listener] = {}
        self._inbound: dict[object, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}
        self._secrets: dict[bytes, dict[str, pb.Secret]] = {}
        self._split_roots: dict[tuple[str, str], list[Service]] | None = None
        self._reachable = self._reverse_access() if not catalog.permissive else None
        # Egress needs the original destination, which only iptables (cluster mode) provides.
        self.egress = options.mode == "cluster" and catalog.mesh_config.enable_egress
        self._passthrough = pb.passthrough_cluster(options.connect_timeout)
        # Retries, timeouts, circuit breaking, fault injection (docs/resilience.md).
        self.resilience = resilience.ResilienceIndex(catalog)

    def allowances(self, destination: Identity) -> list[Allowance]:
        cached = self._allowances.get(destination)
        if cached is None:
            cached = inbound_rules(self.catalog, destination)
            self._allowances[destination] = cached
        return cached

    def _reverse_access(self) -> dict[Identity, set[Identity]]:
        """Source identity → destination identities some TrafficTarget lets it call."""
        out: dict[Identity, set[Identity]] = defaultdict(set)
        for destination in self.catalog.identities():
            for allowance in self.allowances(destination):
                if allowance.sources is ALL:
                    continue  # only permissive mode has ALL sources; handled separately
                for source in allowance.sources:  # type: ignore[union-attr]
                    out[source].add(destination)
        return out

    def outbound_services(self, source: Identity) -> tuple[tuple[Service, ServicePort], ...]:
        """HTTP/gRPC/TCP service ports ``source`` may call (directly or as a split root)."""
        with self._lock:
            cached = self._outbound.get(source)
            if cached is not None:
                return cached
            catalog = self.catalog
            if self._reachable is None:
                services = set(catalog.services)
            else:
                services = set()
                for destination in self._reachable.get(source, ()):
                    services.update(catalog.services_of_identity(destination))
                # A split root is reachable when one of its backends is.
                for split in catalog.traffic_splits:
                    root = catalog.service(split.namespace, split.service)
                    if root is None or root in services:
                        continue
                    if any(
                        catalog.service(split.namespace, b.service) in services
                        for b in split.backends
                    ):
                        services.add(root)
            result = tuple(
                (svc, sp) for svc in sorted(services) for sp in svc.ports if sp.protocol != "udp"
            )
            self._outbound[source] = result
            return result

    def outbound(
        self, source: Identity
    ) -> tuple[
        pb.RouteConfiguration,
        dict[str, pb.Cluster],
        dict[str, pb.ClusterLoadAssignment],
        tuple[tuple[int, str], ...],
    ]:
        """Outbound route table, clusters, endpoints and TCP (port, cluster) of ``source``.

        Shared by every proxy with the same reachable set and namespace: in permissive mode
        that is every proxy of a namespace, in SMI mode every replica of an identity.
        """
        base: object = ("*", source.namespace) if self._reachable is None else source
        # Source-specific Retry/FaultInjection policies give the source its own table.
        key = (base, self.resilience.source_key(source))
        with self._lock:
            cached = self._outbound_tables.get(key)
            if cached is not None:
                return cached
            vhosts = []
            clusters: dict[str, pb.Cluster] = {}
            endpoints: dict[str, pb.ClusterLoadAssignment] = {}
            tcp: dict[int, str] = {}
            for svc, sp in self.outbound_services(source):
                if sp.protocol not in HTTP_PROTOCOLS:
                    # Only cluster mode has a way to send TCP (iptables + original destination
                    # port); without Service cluster IPs the port alone selects the service, so
                    # the first service (sorted) on a port wins.
                    if self.options.mode == "cluster" and sp.port not in tcp:
                        cluster, cla = self.cluster(svc, sp.port)
                        clusters[cluster.name] = cluster
                        endpoints[cla.cluster_name] = cla
                        tcp[sp.port] = cluster.name
                    continue
                vhost, targets = self.outbound_vhost(svc, sp, svc.namespace == source.namespace)
                vhost = resilience.with_source_policies(
                    vhost,
                    self.resilience.retry_for(source, svc),
                    self.resilience.fault_for(source, svc),
                )
                vhosts.append(vhost)
                for target_svc, port in targets:
                    cluster, cla = self.cluster(target_svc, port)
                    clusters[cluster.name] = cluster
                    endpoints[cla.cluster_name] = cla
            if self.egress:
                # Unknown hosts leave the mesh to their original destination (OSM's egress).
                vhosts.append(pb.passthrough_vhost(self.options.route_timeout))
                clusters[names.PASSTHROUGH_CLUSTER] = self._passthrough
            elif self._reachable is not None:
                # SMI mode: a host this proxy has no route to is a destination no TrafficTarget
                # lets it call (or not a mesh service at all): 403 here rather than a bare 404.
                vhosts.append(pb.DENY_UNLISTED_VHOST)
            route = pb.RouteConfiguration(
                name=names.OUTBOUND_ROUTE, virtual_hosts=vhosts, validate_clusters={"value": False}
            )
            cached = (
                route,
                dict(sorted(clusters.items())),
                dict(sorted(endpoints.items())),
                tuple(sorted(tcp.items())),
            )
            self._outbound_tables[key] = cached
            return cached

    def split_roots_of(self, backend: Service, port: int) -> list[Service]:
        """Split roots that send ``port`` traffic to ``backend`` (sorted, no duplicates)."""
        with self._lock:
            if self._split_roots is None:
                roots: dict[tuple[str, str], set[Service]] = defaultdict(set)
                for split in self.catalog.traffic_splits:
                    root = self.catalog.service(split.namespace, split.service)
                    if root is None:
                        continue
                    for b in split.backends:
                        if b.service != root.name:
                            roots[(split.namespace, b.service)].add(root)
                self._split_roots = {k: sorted(v) for k, v in roots.items()}
            candidates = self._split_roots.get(backend.key, [])
        return [
            root
            for root in candidates
            if any(b.key == backend.key for b, _ in split_backends(self.catalog, root, port))
        ]

    def secrets(self, certs: CertLike) -> dict[str, pb.Secret]:
        """The two SDS secrets of an identity certificate (one message pair per certificate)."""
        with self._lock:
            cached = self._secrets.get(certs.cert_pem)
            if cached is None:
                cached = {
                    names.SECRET_SERVICE_CERT: pb.identity_secret(certs.cert_pem, certs.key_pem),
                    names.SECRET_ROOT_CERT: pb.root_secret(certs.ca_pem),
                }
                self._secrets[certs.cert_pem] = cached
            return cached

    def cluster(self, service: Service, port: int) -> tuple[pb.Cluster, pb.ClusterLoadAssignment]:
        """The outbound EDS cluster of a service port and its endpoints."""
        key = (service.namespace, service.name, port)
        with self._lock:
            cached = self._clusters.get(key)
            if cached is not None:
                return cached
            catalog, opts = self.catalog, self.options
            name = names.outbound_cluster(service.namespace, service.name, port)
            sp = service.port(port)
            protocol = sp.protocol if sp is not None else "http"
            pods = catalog.pods_of_service(service)
            sans = sorted({p.identity.spiffe_id(self.trust_domain) for p in pods})
            if protocol in HTTP_PROTOCOLS:
                sni = names.service_sni(service.namespace, service.name)
                http2: bool | None = protocol == "grpc"
            else:
                sni = names.tcp_sni(service.namespace, service.name, port)
                http2 = None
            cluster = pb.eds_cluster(
                name, sni=sni, san_uris=sans, http2=http2, connect_timeout=opts.connect_timeout
            )
            resilience.apply_to_cluster(cluster, self.resilience.upstream_setting(service))
            endpoints: list[tuple[str, int]] = []
            if sp is not None:
                for ep in catalog.endpoints(service, sp):
                    port_no = opts.inbound_port if opts.mode == "local" else ep.port
                    endpoints.append((ep.ip, port_no))
            cla = pb.load_assignment(name, sorted(set(endpoints)))
            self._clusters[key] = (cluster, cla)
            return cluster, cla

    def outbound_vhost(
        self, service: Service, sp: ServicePort, same_namespace: bool
    ) -> tuple[pb.VirtualHost, list[tuple[Service, int]]]:
        """The virtual host for one service port and the (service, port) clusters it uses."""
        key = (service.namespace, service.name, sp.port, same_namespace)
        targets = self._route_targets(service, sp.port)
        with self._lock:
            cached = self._vhosts.get(key)
            if cached is None:
                cached = pb.VirtualHost(
                    name=names.outbound_cluster(service.namespace, service.name, sp.port),
                    domains=host_domains(service, sp.port, short=same_namespace),
                    routes=resilience.with_timeouts(
                        self._routes(service, sp.port, self.timeout_for(sp)),
                        self.resilience.upstream_setting(service),
                    ),
                )
                self._vhosts[key] = cached
            return cached, targets

    def _route_targets(self, service: Service, port: int) -> list[tuple[Service, int]]:
        targets = [(service, port)]
        targets += [(svc, port) for svc, _ in split_backends(self.catalog, service, port)]
        return targets

    def timeout_for(self, sp: ServicePort) -> float:
        return 0.0 if sp.protocol == "grpc" else self.options.route_timeout

    def _routes(self, service: Service, port: int, timeout: float) -> list[pb.Route]:
        root = [(names.outbound_cluster(service.namespace, service.name, port), 1)]
        backends = [
            (names.outbound_cluster(svc.namespace, svc.name, port), weight)
            for svc, weight in split_backends(self.catalog, service, port)
        ]
        if not backends:
            return [pb.route_to(pb.route_match(), root, timeout)]
        split = split_for(self.catalog, service)
        matches = split_matches(self.catalog, split) if split is not None else None
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


_INDEX_CACHE: OrderedDict[tuple[int, TranslateOptions], tuple[Catalog, MeshIndex]] = OrderedDict()
_INDEX_LOCK = threading.Lock()


def mesh_index(catalog: Catalog, options: TranslateOptions) -> MeshIndex:
    """The (memoized) index of a catalog; keeps the last few catalogs only."""
    key = (id(catalog), options)
    with _INDEX_LOCK:
        hit = _INDEX_CACHE.get(key)
        if hit is not None and hit[0] is catalog:
            _INDEX_CACHE.move_to_end(key)
            return hit[1]
    index = MeshIndex(catalog, options)
    with _INDEX_LOCK:
        _INDEX_CACHE[key] = (catalog, index)
        while len(_INDEX_CACHE) > 4:
            _INDEX_CACHE.popitem(last=False)
    return index


# -- per-proxy translation -----------------------------------------------------------------------
def find_pod(catalog: Catalog, proxy: ProxyIdentity) -> Pod | None:
    pod = catalog.pod_by_uuid(proxy.proxy_uuid)
    if pod is None and proxy.pod_name:
        pod = catalog.pod(proxy.identity.namespace, proxy.pod_name)
    if pod is not None and pod.identity != proxy.identity:
        return None  # never give a proxy another identity's inbound policy
    return pod


def translate(
    catalog: Catalog,
    proxy: ProxyIdentity,
    options: TranslateOptions = TranslateOptions(),
    certs: CertLike | None = None,
    *,
    index: MeshIndex | None = None,
) -> Resources:
    """All resources for one proxy. ``certs``: its identity certificate (SDS); None = none."""
    index = index or mesh_index(catalog, options)
    res = Resources()
    notes: list[str] = []
    pod = find_pod(catalog, proxy)
    if pod is None:
        notes.append(f"no pod for proxy {proxy.proxy_uuid} ({proxy.identity}) in the catalog")
    local = options.mode == "local"
    if local and (pod is None or not pod.ip):
        notes.append("local mode needs the pod's IP: no listeners")
        bind_ip = None
    else:
        bind_ip = pod.ip if local and pod is not None else "0.0.0.0"

    _outbound(index, proxy.identity, res, bind_ip)
    _inbound_cached(index, pod, proxy.identity, res, bind_ip)
    if certs is not None:
        res.secrets.update(index.secrets(certs))
    res.notes = tuple(notes)
    return res


def _inbound_cached(
    index: MeshIndex, pod: Pod | None, identity: Identity, res: Resources, bind_ip: str | None
) -> None:
    """Replicas of one identity with the same services share their inbound resources."""
    services = index.catalog.services_of_pod(pod) if pod is not None else ()
    targets = tuple(
        pod.resolve_port(sp.target_port) if pod is not None else None
        for svc in services
        for sp in svc.ports
    )
    app_ip = pod.ip if pod is not None and index.options.mode == "local" else ""
    key = (identity, bind_ip, app_ip, tuple(s.key for s in services), targets)
    with index._lock:
        cached = index._inbound.get(key)
    if cached is None:
        built = Resources()
        _inbound(index, pod, identity, built, bind_ip)
        cached = (built.routes, built.listeners, built.local_clusters)
        with index._lock:
            index._inbound[key] = cached
    routes, listeners, local_clusters = cached
    res.routes.update(routes)
    res.listeners.update(listeners)
    res.local_clusters.update(local_clusters)


def _outbound(index: MeshIndex, source: Identity, res: Resources, bind_ip: str | None) -> None:
    opts = index.options
    route, clusters, endpoints, tcp = index.outbound(source)
    res.outbound_clusters = clusters
    res.endpoints = endpoints
    res.routes[names.OUTBOUND_ROUTE] = route
    if bind_ip is None:
        return
    with index._lock:
        listener = index._outbound_listeners.get((bind_ip, tcp))
        if listener is None:
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
                http_chain.filter_chain_match.application_protocols.extend(
                    pb.HTTP_APPLICATION_PROTOCOLS
                )
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
            index._outbound_listeners[(bind_ip, tcp)] = listener
    res.listeners[names.OUTBOUND_LISTENER] = listener


def _policy_name(allowance: Allowance, i: int) -> str:
    ref = allowance.traffic_target
    return f"{i:03d}:{ref}" if ref is not None else f"{i:03d}:permissive"


def _principals(index: MeshIndex, allowance: Allowance) -> pb.Principal:
    if allowance.sources is ALL:
        return pb.principal_ids(None)
    ids = sorted(s.spiffe_id(index.trust_domain) for s in allowance.sources)  # type: ignore[union-attr]
    return pb.principal_ids(ids)


def http_policies(index: MeshIndex, destination: Identity, port: int) -> dict[str, pb.RBACPolicy]:
    """RBAC policies for HTTP requests to ``destination`` on its (target) ``port``."""
    policies = {}
    for i, allowance in enumerate(index.allowances(destination)):
        if not allowance.allows_port(port) or not allowance.http:
            continue
        if allowance.http is ALL:
            permissions = [pb.Permission(any=True)]
        else:
            permissions = [
                pb.http_permission(
                    m.envoy_path_regex(),
                    () if m.any_method else tuple(sorted(m.methods)),
                    m.headers,
                )
                for m in allowance.http  # type: ignore[union-attr]
            ]
        policies[_policy_name(allowance, i)] = pb.RBACPolicy(
            permissions=permissions, principals=[_principals(index, allowance)]
        )
    return policies


def tcp_policies(index: MeshIndex, destination: Identity, port: int) -> dict[str, pb.RBACPolicy]:
    policies = {}
    for i, allowance in enumerate(index.allowances(destination)):
        ports = allowance.tcp_ports
        if not allowance.allows_port(port) or not (ports is ALL or port in ports):  # type: ignore[operator]
            continue
        policies[_policy_name(allowance, i)] = pb.RBACPolicy(
            permissions=[pb.Permission(any=True)], principals=[_principals(index, allowance)]
        )
    return policies


def _inbound(
    index: MeshIndex, pod: Pod | None, identity: Identity, res: Resources, bind_ip: str | None
) -> None:
    opts, catalog = index.options, index.catalog
    app_host = pod.ip if opts.mode == "local" and pod is not None else "127.0.0.1"
    vhosts = []
    tcp_chains = []
    seen_tcp_ports: set[int] = set()
    inbound_domains: set[str] = set()
    services = catalog.services_of_pod(pod) if pod is not None else ()
    for svc in services:
        for sp in svc.ports:
            target = pod.resolve_port(sp.target_port) if pod is not None else None
            if target is None or sp.protocol == "udp":
                continue
            local_name = names.local_cluster(svc.namespace, svc.name, sp.port)
            http = sp.protocol in HTTP_PROTOCOLS
            res.local_clusters[local_name] = pb.static_cluster(
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
                domains = [d for d in dict.fromkeys(domains) if d not in inbound_domains]
                inbound_domains.update(domains)
                vhost = pb.VirtualHost(
                    name=f"inbound|{svc.namespace}/{svc.name}|{sp.port}",
                    domains=domains,
                    routes=[
                        pb.route_to(
                            pb.route_match(),
                            [(local_name, 1)],
                            # Never cut a request the client's UpstreamTrafficSetting allows.
                            resilience.inbound_timeout(
                                index.timeout_for(sp), index.resilience.upstream_setting(svc)
                            ),
                        )
                    ],
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
    res.routes[names.INBOUND_ROUTE] = pb.RouteConfiguration(
        name=names.INBOUND_ROUTE, virtual_hosts=vhosts, validate_clusters={"value": False}
    )
    if bind_ip is None:
        return
    http_chain = pb.listener_components_pb2.FilterChain(
        name="inbound-http",
        filters=[
            pb.http_connection_manager(
                "inbound",
                names.INBOUND_ROUTE,
                rbac=True,
                forward_client_cert=opts.forward_client_cert,
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
    res.listeners[names.INBOUND_LISTENER] = listener


def network_rbac_for(
    index: MeshIndex, identity: Identity, target: int, svc: Service, sp: ServicePort
):
    return pb.network_rbac(
        f"inbound-tcp-{svc.name}-{sp.port}.", tcp_policies(index, identity, target)
    )


def translate_many(
    catalog: Catalog,
    proxies: Iterable[ProxyIdentity],
    options: TranslateOptions = TranslateOptions(),
    certs: dict[Identity, CertLike] | None = None,
) -> dict[str, Resources]:
    """Translate for several proxies sharing one index; keyed by proxy UUID."""
    index = mesh_index(catalog, options)
    out = {}
    for proxy in proxies:
        cert = certs.get(proxy.identity) if certs else None
        out[proxy.proxy_uuid] = translate(catalog, proxy, options, cert, index=index)
    return out
