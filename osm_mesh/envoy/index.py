"""MeshIndex: everything proxy-independent, built once per catalog and shared by every proxy.

Clusters, endpoints, outbound route tables and listeners, inbound resources of replicas with
the same services, and SDS secrets are memoized here; the ``build_*`` functions of
``clusters``, ``outbound`` and ``inbound`` compute them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from typing import Any

from osm_mesh.catalog.model import Catalog, Identity, Pod, Service, ServicePort
from osm_mesh.envoy import names, pb, resilience
from osm_mesh.envoy.clusters import build_cluster
from osm_mesh.envoy.inbound import InboundResources, build_inbound
from osm_mesh.envoy.model import CertLike, TranslateOptions
from osm_mesh.envoy.outbound import (
    OutboundTable,
    build_outbound_listener,
    build_outbound_table,
    build_vhost,
    route_targets,
)
from osm_mesh.policy import ALL, Allowance, inbound_rules, split_backends


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
        self._inbound: dict[object, InboundResources] = {}
        self._secrets: dict[bytes, dict[str, pb.Secret]] = {}
        self._split_roots: dict[tuple[str, str], list[Service]] | None = None
        self._reachable = self._reverse_access() if not catalog.permissive else None
        # Egress needs the original destination, which only iptables (cluster mode) provides.
        self.egress = options.mode == "cluster" and catalog.mesh_config.enable_egress
        self.passthrough = pb.passthrough_cluster(options.connect_timeout)
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

    def outbound(self, source: Identity) -> OutboundTable:
        """Outbound route table, clusters, endpoints and TCP (port, cluster) of ``source``.

        Shared by every proxy with the same reachable set and namespace: in permissive mode
        that is every proxy of a namespace, in SMI mode every replica of an identity.
        """
        base: object = ("*", source.namespace) if self._reachable is None else source
        # Source-specific Retry/FaultInjection policies give the source its own table.
        key = (base, self.resilience.source_key(source))
        with self._lock:
            cached = self._outbound_tables.get(key)
            if cached is None:
                cached = build_outbound_table(self, source)
                self._outbound_tables[key] = cached
            return cached

    def outbound_listener(self, bind_ip: str, tcp: tuple[tuple[int, str], ...]) -> pb.Listener:
        with self._lock:
            listener = self._outbound_listeners.get((bind_ip, tcp))
            if listener is None:
                listener = build_outbound_listener(self, bind_ip, tcp)
                self._outbound_listeners[(bind_ip, tcp)] = listener
            return listener

    def inbound(self, pod: Pod | None, identity: Identity, bind_ip: str | None) -> InboundResources:
        """Replicas of one identity with the same services share their inbound resources."""
        services = self.catalog.services_of_pod(pod) if pod is not None else ()
        targets = tuple(
            pod.resolve_port(sp.target_port) if pod is not None else None
            for svc in services
            for sp in svc.ports
        )
        app_ip = pod.ip if pod is not None and self.options.mode == "local" else ""
        key = (identity, bind_ip, app_ip, tuple(s.key for s in services), targets)
        with self._lock:
            cached = self._inbound.get(key)
        if cached is None:
            cached = build_inbound(self, pod, identity, bind_ip)
            with self._lock:
                self._inbound[key] = cached
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
            if cached is None:
                cached = build_cluster(self, service, port)
                self._clusters[key] = cached
            return cached

    def outbound_vhost(
        self, service: Service, sp: ServicePort, same_namespace: bool
    ) -> tuple[pb.VirtualHost, list[tuple[Service, int]]]:
        """The virtual host for one service port and the (service, port) clusters it uses."""
        key = (service.namespace, service.name, sp.port, same_namespace)
        targets = route_targets(self.catalog, service, sp.port)
        with self._lock:
            cached = self._vhosts.get(key)
            if cached is None:
                cached = build_vhost(self, service, sp, same_namespace)
                self._vhosts[key] = cached
            return cached, targets

    def timeout_for(self, sp: ServicePort) -> float:
        return 0.0 if sp.protocol == "grpc" else self.options.route_timeout


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
