"""SMI access semantics over a Catalog (pure): who may call whom, on which routes.

Shared by the Envoy translation (inbound RBAC), ``osm policy check-pods`` and lint.
Semantics (facts/smi.md; spec over OSM v1.2 where they differ):

- SMI mode denies by default; a TrafficTarget whose destination is the server's identity
  allows its sources on the routes of its rules. Permissive mode allows everything.
- A rule without ``matches`` allows every match of the group (spec; OSM v1.2 denied).
- HTTP rules apply to HTTP/gRPC ports, TCPRoute rules to TCP ports, UDPRoute to UDP ports.
- Sources without a namespace never match; a TrafficTarget in another namespace than its
  destination grants nothing; TrafficSplits grant no access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from osm_mesh.catalog.model import Catalog, Identity
from osm_mesh.smi.model import HTTPMatch, ObjectRef, TrafficTarget


class _All:
    """Sentinel: every source / every HTTP route / every port."""

    _instance: _All | None = None

    def __new__(cls) -> _All:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL"

    def __reduce__(self) -> str:
        return "ALL"


ALL: Final = _All()
ANY: Final = ALL  # readable alias for "any source"

Sources = frozenset[Identity] | _All
HttpRoutes = tuple[HTTPMatch, ...] | _All
Ports = tuple[int, ...] | _All


@dataclass(frozen=True)
class Allowance:
    """What one TrafficTarget (or permissive mode) allows towards one destination.

    ``http``/``tcp_ports``/``udp_ports``: ALL, or the allowed matches/ports (``()`` = none).
    ``port``: the destination port the target is limited to (access v1alpha1/v1alpha2).
    """

    sources: Sources
    http: HttpRoutes = ()
    tcp_ports: Ports = ()
    udp_ports: Ports = ()
    port: int | None = None
    traffic_target: ObjectRef | None = None

    def allows_source(self, identity: Identity) -> bool:
        return self.sources is ALL or identity in self.sources  # type: ignore[operator]

    def allows_port(self, port: int | None) -> bool:
        return self.port is None or port is None or self.port == port


def _merge_ports(values: list[Ports]) -> Ports:
    if any(v is ALL for v in values):
        return ALL
    out: set[int] = set()
    for v in values:
        out.update(v)  # type: ignore[arg-type]
    return tuple(sorted(out))


def _merge_http(values: list[HttpRoutes]) -> HttpRoutes:
    if any(v is ALL for v in values):
        return ALL
    seen: dict[HTTPMatch, None] = {}
    for v in values:
        for m in v:  # type: ignore[union-attr]
            seen.setdefault(m, None)
    return tuple(seen)


def allowance_of(catalog: Catalog, target: TrafficTarget) -> Allowance | None:
    """The access one TrafficTarget grants, None when it can grant nothing."""
    sources = frozenset(Identity(s.namespace, s.name) for s in target.sources if s.namespace)
    if not sources:
        return None
    ns = target.namespace
    http: list[HttpRoutes] = []
    tcp: list[Ports] = []
    udp: list[Ports] = []
    for rule in target.rules:
        if rule.kind == "HTTPRouteGroup":
            group = catalog.http_route_group(ns, rule.name)
            if group is None:
                continue
            if rule.matches is None:
                http.append(group.matches)
            else:
                found = (group.match(n) for n in rule.matches)
                http.append(tuple(m for m in found if m is not None))
        elif rule.kind in ("TCPRoute", "UDPRoute"):
            lookup = catalog.tcp_route if rule.kind == "TCPRoute" else catalog.udp_route
            route = lookup(ns, rule.name)
            if route is None:
                continue
            (tcp if rule.kind == "TCPRoute" else udp).append(route.ports or ALL)
    allowance = Allowance(
        sources, _merge_http(http), _merge_ports(tcp), _merge_ports(udp), target.port, target.ref
    )
    if not allowance.http and not allowance.tcp_ports and not allowance.udp_ports:
        return None
    return allowance


PERMISSIVE = Allowance(ALL, ALL, ALL, ALL)


def inbound_rules(catalog: Catalog, destination: Identity) -> list[Allowance]:
    """Everything allowed towards ``destination``, one Allowance per TrafficTarget."""
    if catalog.permissive:
        return [PERMISSIVE]
    out = []
    for target in catalog.traffic_targets_to(destination):
        allowance = allowance_of(catalog, target)
        if allowance is not None:
            out.append(allowance)
    return out


@dataclass(frozen=True)
class RouteAccess:
    """Which routes ``source`` may use on ``destination`` (the answer of check-pods)."""

    source: Identity
    destination: Identity
    permissive: bool
    http: HttpRoutes = ()
    tcp_ports: Ports = ()
    udp_ports: Ports = ()
    traffic_targets: tuple[ObjectRef, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return bool(self.permissive or self.http or self.tcp_ports or self.udp_ports)


def allowed_routes(
    catalog: Catalog, source: Identity, destination: Identity, port: int | None = None
) -> RouteAccess:
    """Merge every allowance that admits ``source`` (on ``port`` when given)."""
    if catalog.permissive:
        return RouteAccess(source, destination, True, ALL, ALL, ALL)
    matching = [
        a
        for a in inbound_rules(catalog, destination)
        if a.allows_source(source) and a.allows_port(port)
    ]
    return RouteAccess(
        source,
        destination,
        False,
        _merge_http([a.http for a in matching]),
        _merge_ports([a.tcp_ports for a in matching]),
        _merge_ports([a.udp_ports for a in matching]),
        tuple(a.traffic_target for a in matching if a.traffic_target is not None),
    )


def request_allowed(
    catalog: Catalog,
    source: Identity,
    destination: Identity,
    *,
    port: int | None = None,
    protocol: str = "http",
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
) -> bool:
    """Whether one request (HTTP) or connection (TCP/UDP, to ``port``) is allowed."""
    access = allowed_routes(catalog, source, destination, port)
    if protocol in ("http", "grpc"):
        if access.http is ALL:
            return True
        return any(m.matches_request(method, path, headers) for m in access.http)  # type: ignore[union-attr]
    ports = access.tcp_ports if protocol == "tcp" else access.udp_ports
    return ports is ALL or (port is not None and port in ports)  # type: ignore[operator]
