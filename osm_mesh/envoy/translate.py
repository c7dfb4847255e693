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

Modules: ``model`` (options, ProxyIdentity, Resources), ``index`` (MeshIndex, the caches),
``inbound`` + ``rbac``, ``outbound`` (listener, routes, splits), ``clusters`` (EDS clusters and
endpoints); this one assembles a proxy's resources from them.
"""

from __future__ import annotations

from osm_mesh.catalog.model import Catalog, Identity, Pod
from osm_mesh.envoy import names
from osm_mesh.envoy.index import MeshIndex, mesh_index
from osm_mesh.envoy.model import (
    HTTP_PROTOCOLS,
    CertLike,
    Mode,
    ProxyIdentity,
    Resources,
    TranslateOptions,
)
from osm_mesh.envoy.outbound import host_domains

__all__ = [
    "HTTP_PROTOCOLS",
    "CertLike",
    "MeshIndex",
    "Mode",
    "ProxyIdentity",
    "Resources",
    "TranslateOptions",
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

    _add_outbound(index, proxy.identity, res, bind_ip)
    _add_inbound(index, pod, proxy.identity, res, bind_ip)
    if certs is not None:
        res.secrets.update(index.secrets(certs))
    res.notes = tuple(notes)
    return res


def _add_outbound(index: MeshIndex, source: Identity, res: Resources, bind_ip: str | None) -> None:
    route, clusters, endpoints, tcp = index.outbound(source)
    res.outbound_clusters = clusters
    res.endpoints = endpoints
    res.routes[names.OUTBOUND_ROUTE] = route
    if bind_ip is None:
        return
    res.listeners[names.OUTBOUND_LISTENER] = index.outbound_listener(bind_ip, tcp)


def _add_inbound(
    index: MeshIndex, pod: Pod | None, identity: Identity, res: Resources, bind_ip: str | None
) -> None:
    routes, listeners, local_clusters = index.inbound(pod, identity, bind_ip)
    res.routes.update(routes)
    res.listeners.update(listeners)
    res.local_clusters.update(local_clusters)
