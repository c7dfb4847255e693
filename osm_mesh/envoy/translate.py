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

Resources that do not depend on the proxy (clusters, endpoints, outbound virtual hosts and
route tables, inbound resources of replicas with the same services) are built once per index by
a :class:`Translator` and shared by every proxy's snapshot.

Modules: ``model`` (options, ProxyIdentity, Resources), ``index`` (MeshIndex: the per-catalog
data the builders read), ``inbound`` + ``rbac``, ``outbound`` (listener, routes, splits),
``clusters`` (EDS clusters and endpoints); this one calls the builders and assembles a proxy's
resources from what they return.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection
from typing import Any

from osm_mesh.catalog.model import Catalog, Identity, Pod, Service, ServicePort
from osm_mesh.envoy import names, pb
from osm_mesh.envoy.clusters import build_cluster
from osm_mesh.envoy.inbound import InboundResources, build_inbound
from osm_mesh.envoy.index import MeshIndex, mesh_index
from osm_mesh.envoy.model import (
    HTTP_PROTOCOLS,
    CertLike,
    Dependencies,
    Mode,
    ProxyIdentity,
    Resources,
    TranslateOptions,
)
from osm_mesh.envoy.outbound import (
    OutboundTable,
    build_outbound_listener,
    build_outbound_table,
    build_vhost,
    host_domains,
    local_tcp_listeners,
)
from osm_mesh.envoy.scope import Affected
from osm_mesh.envoy.telemetry import workload_of

__all__ = [
    "HTTP_PROTOCOLS",
    "CertLike",
    "MeshIndex",
    "Mode",
    "ProxyIdentity",
    "Resources",
    "TranslateOptions",
    "Translator",
    "find_pod",
    "host_domains",
    "mesh_index",
    "translate",
]


def find_pod(catalog: Catalog, proxy: ProxyIdentity) -> Pod | None:
    pod = catalog.pod_by_uuid(proxy.proxy_uuid)
    if pod is None and proxy.pod_name:
        pod = catalog.pod(proxy.identity.namespace, proxy.pod_name)
    if pod is not None and pod.identity != proxy.identity:
        return None  # never give a proxy another identity's inbound policy
    return pod


class Translator:
    """Translates proxies against one MeshIndex; builds each shared resource once (memo).

    Thread-safe. Keep one per index: a new catalog gets a new Translator, either empty or
    ``inherited`` from the previous one with every resource a change can affect dropped (so
    nothing stale is ever handed out, and nothing unaffected is built twice).
    """

    def __init__(self, index: MeshIndex) -> None:
        self.index = index
        self._lock = threading.RLock()
        self._clusters: dict[tuple[str, str, int], tuple[pb.Cluster, pb.ClusterLoadAssignment]]
        self._clusters = {}
        self._vhosts: dict[tuple[str, str, int, bool], pb.VirtualHost] = {}
        self._outbound_tables: dict[tuple[Any, ...], OutboundTable] = {}
        self._outbound_listeners: dict[object, dict[str, pb.Listener]] = {}
        self._inbound: dict[tuple[Any, ...], InboundResources] = {}
        self._secrets: dict[bytes, dict[str, pb.Secret]] = {}
        # id()s of the parts -> (the parts, their Resources); the parts are kept so an id
        # can never be reused by another object while its entry exists.
        self._bundles: dict[tuple[int, int, int, int], tuple[tuple[object, ...], Resources]]
        self._bundles = {}

    @classmethod
    def inherited(
        cls,
        old: Translator,
        index: MeshIndex,
        affected: Affected,
        live_certs: Collection[bytes] | None = None,
    ) -> Translator:
        """A Translator for ``index`` (the next catalog) keeping ``old``'s resources that
        ``affected`` cannot have changed (``tests/mesh/envoy/test_scope.py`` checks the result
        against translating from scratch), and that a pod of the new catalog or one of
        ``live_certs`` (identity certificates held, PEM) can still use (``_drop_departed``)."""
        new = cls._inherit(old, index, affected)
        new._drop_departed(
            live_certs, pods_changed=index.catalog.pods is not old.index.catalog.pods
        )
        return new

    @classmethod
    def _inherit(cls, old: Translator, index: MeshIndex, affected: Affected) -> Translator:
        new = cls(index)
        if affected.everything:
            return new
        services = affected.services
        endpoints = affected.endpoints | affected.services
        callers: set[Identity] = set()
        for member in affected.members:
            callers |= old.index.callers(member) | index.callers(member)
        stale_sources = affected.reach | callers
        permissive = index.reachable(Identity("", "")) is None
        # Local mode's tables explain misses with every Service of the mesh (explain.py).
        lists_every_service = index.options.mode == "local"
        new._clusters = {k: v for k, v in old._clusters.items() if k[:2] not in endpoints}
        new._vhosts = {k: v for k, v in old._vhosts.items() if k[:2] not in services}
        for key, table in old._outbound_tables.items():
            source = key[0]
            if permissive and (services or endpoints or affected.reach):
                # Every service is in every table (new ones join them all), and a table is
                # shared by a namespace: a Retry change of one source concerns it.
                continue
            if lists_every_service and services:
                continue
            if isinstance(source, Identity) and source in stale_sources:
                continue
            if table.services & services or table.clustered & endpoints:
                continue
            new._outbound_tables[key] = table
        new._outbound_listeners = dict(old._outbound_listeners)  # a function of its key only
        stale_inbound = affected.allowances | affected.members
        for key, inbound in old._inbound.items():
            if key[0] in stale_inbound or inbound.services & services:
                continue
            if inbound.split_backends & endpoints:
                continue
            new._inbound[key] = inbound
        new._secrets = dict(old._secrets)
        new._bundles = dict(old._bundles)  # checked part by part on use
        return new

    def _drop_departed(
        self, live_certs: Collection[bytes] | None, pods_changed: bool = True
    ) -> None:
        """Forget what only departed pods could use: inbound resources of workloads with no
        pod left, outbound tables of identities with no pod left, listeners on addresses no
        pod has, secrets of certificates no longer held, and bundles made of dropped parts.
        Without this an inherited Translator grows with every pod that ever lived (issue 11
        item 2: per-proxy state goes with the proxy).

        The pod-keyed memos are only looked through when the pod table changed (incremental
        catalogs keep the very same table otherwise, and entries are only ever made for pods
        in it): a policy change at 10,000 proxies must not cost a pass over every pod."""
        if pods_changed:
            pods = self.index.catalog.pods
            workloads = {workload_of(p) for p in pods}
            identities = {p.identity for p in pods}
            addresses = {p.ip for p in pods if p.ip} | {"0.0.0.0"}
            self._inbound = {k: v for k, v in self._inbound.items() if k[-1] in workloads}
            self._outbound_tables = {
                k: v
                for k, v in self._outbound_tables.items()
                if not isinstance(k[0], Identity) or k[0] in identities
            }
            self._outbound_listeners = {
                k: v
                for k, v in self._outbound_listeners.items()
                if isinstance(k, tuple) and k[0] in addresses
            }
        if live_certs is not None:
            held = live_certs if isinstance(live_certs, set | frozenset) else set(live_certs)
            if not held.issuperset(self._secrets):
                self._secrets = {k: v for k, v in self._secrets.items() if k in held}
        kept = {
            id(part)
            for parts in (
                self._outbound_tables.values(),
                self._outbound_listeners.values(),
                self._inbound.values(),
                self._secrets.values(),
            )
            for part in parts
        }
        kept.add(id(None))
        # A bundle's key is the ids of its parts, each kept alive by the bundle itself.
        self._bundles = {k: v for k, v in self._bundles.items() if kept.issuperset(k)}

    def sizes(self) -> dict[str, int]:
        """Entries in each memo (tests check that departed pods leave none behind)."""
        with self._lock:
            return {
                "inbound": len(self._inbound),
                "outbound_tables": len(self._outbound_tables),
                "outbound_listeners": len(self._outbound_listeners),
                "secrets": len(self._secrets),
                "bundles": len(self._bundles),
            }

    def translate(self, proxy: ProxyIdentity, certs: CertLike | None = None) -> Resources:
        """All resources for one proxy. ``certs``: its identity certificate (SDS); None = none."""
        catalog, options = self.index.catalog, self.index.options
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

        outbound = self.outbound(proxy.identity)
        listeners = None
        if bind_ip is not None:
            taken: frozenset[int] | None = None
            if local and pod is not None:
                # Local TCP listeners go on the pod's address: not on a port it already uses.
                ports = {options.outbound_port, options.inbound_port, names.ADMIN_PORT}
                app_ports = {port for _, port in pod.container_ports} or {80}
                taken = frozenset(ports | app_ports | {pod.local_port(p) for p in app_ports})
            listeners = self.outbound_listeners(bind_ip, outbound.tcp, taken)
        inbound = self.inbound(pod, proxy.identity, bind_ip)
        secrets = self.secrets(certs) if certs is not None else None
        shared = self._shared(outbound, listeners, inbound, secrets)
        return Resources(
            listeners=shared.listeners,
            routes=shared.routes,
            local_clusters=shared.local_clusters,
            outbound_clusters=shared.outbound_clusters,
            endpoints=shared.endpoints,
            secrets=shared.secrets,
            notes=tuple(notes),
            depends_on=Dependencies(
                pod.key if pod is not None else None,
                outbound.services | inbound.services,
                outbound.clustered | inbound.split_backends,
                # Local mode's outbound table explains misses with every service (explain.py).
                every_service=self.index.reachable(proxy.identity) is None or local,
            ),
            typed=shared.typed,
        )

    def _shared(
        self,
        outbound: OutboundTable,
        listeners: dict[str, pb.Listener] | None,
        inbound: InboundResources,
        secrets: dict[str, pb.Secret] | None,
    ) -> Resources:
        """One Resources per combination of shared parts: replicas get the same dicts."""
        parts = (outbound, listeners, inbound, secrets)
        key = (id(outbound), id(listeners), id(inbound), id(secrets))
        with self._lock:
            found = self._bundles.get(key)
            if found is not None and all(a is b for a, b in zip(found[0], parts, strict=True)):
                return found[1]
        res = Resources()
        res.outbound_clusters = outbound.clusters
        res.endpoints = outbound.endpoints
        res.routes[names.OUTBOUND_ROUTE] = outbound.route
        if listeners is not None:
            res.listeners.update(listeners)
        res.routes.update(inbound.routes)
        res.listeners.update(inbound.listeners)
        res.local_clusters.update(inbound.local_clusters)
        if secrets is not None:
            res.secrets.update(secrets)
        res.typed = res.by_type()
        with self._lock:
            self._bundles[key] = (parts, res)
        return res

    # -- shared resources -----------------------------------------------------------------
    def cluster(self, service: Service, port: int) -> tuple[pb.Cluster, pb.ClusterLoadAssignment]:
        """The outbound EDS cluster of a service port and its endpoints."""
        key = (service.namespace, service.name, port)
        with self._lock:
            cached = self._clusters.get(key)
            if cached is None:
                cached = build_cluster(self.index, service, port)
                self._clusters[key] = cached
            return cached

    def vhost(self, service: Service, sp: ServicePort, same_namespace: bool) -> pb.VirtualHost:
        """The virtual host of one service port (source-independent policies only)."""
        key = (service.namespace, service.name, sp.port, same_namespace)
        with self._lock:
            cached = self._vhosts.get(key)
            if cached is None:
                cached = build_vhost(self.index, service, sp, same_namespace)
                self._vhosts[key] = cached
            return cached

    def outbound(self, source: Identity) -> OutboundTable:
        """Outbound route table, clusters, endpoints and TCP (port, cluster) of ``source``.

        Shared by every proxy with the same reachable set and namespace: in permissive mode
        that is every proxy of a namespace, in SMI mode every replica of an identity.
        """
        index = self.index
        base: object = ("*", source.namespace) if index.reachable(source) is None else source
        # Source-specific Retry/FaultInjection policies give the source its own table.
        key = (base, index.resilience.source_key(source))
        with self._lock:
            cached = self._outbound_tables.get(key)
            if cached is None:
                cached = build_outbound_table(index, source, self.cluster, self.vhost)
                self._outbound_tables[key] = cached
            return cached

    def outbound_listeners(
        self, bind_ip: str, tcp: tuple[tuple[int, str], ...], taken: frozenset[int] | None
    ) -> dict[str, pb.Listener]:
        """``outbound-listener``, and in local mode one listener per TCP service port on the
        pod's address (``taken``: the ports it must leave alone)."""
        key = (bind_ip, tcp, taken)
        with self._lock:
            found = self._outbound_listeners.get(key)
            if found is None:
                found = {names.OUTBOUND_LISTENER: build_outbound_listener(self.index, bind_ip, tcp)}
                if taken is not None:
                    found.update(local_tcp_listeners(bind_ip, tcp, set(taken)))
                self._outbound_listeners[key] = found
            return found

    def inbound(self, pod: Pod | None, identity: Identity, bind_ip: str | None) -> InboundResources:
        """Replicas of one identity with the same services share their inbound resources."""
        index = self.index
        services = index.catalog.services_of_pod(pod) if pod is not None else ()
        targets = tuple(
            pod.resolve_port(sp.target_port) if pod is not None else None
            for svc in services
            for sp in svc.ports
        )
        app_ip = pod.ip if pod is not None and index.options.mode == "local" else ""
        # The inbound listener's request metrics name the pod's workload (telemetry.py): only
        # replicas of one workload share it.
        workload = workload_of(pod) if pod is not None else None
        key = (identity, bind_ip, app_ip, tuple(s.key for s in services), targets, workload)
        with self._lock:
            cached = self._inbound.get(key)
        if cached is None:
            cached = build_inbound(index, pod, identity, bind_ip)
            with self._lock:
                self._inbound[key] = cached
        return cached

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


_TRANSLATORS: weakref.WeakKeyDictionary[MeshIndex, Translator] = weakref.WeakKeyDictionary()
_TRANSLATORS_LOCK = threading.Lock()


def translator_for(index: MeshIndex) -> Translator:
    """The Translator of an index (one per index, freed with it)."""
    with _TRANSLATORS_LOCK:
        found = _TRANSLATORS.get(index)
        if found is None:
            found = _TRANSLATORS[index] = Translator(index)
        return found


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
    return translator_for(index).translate(proxy, certs)
