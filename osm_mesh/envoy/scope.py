"""Which proxies a catalog change can affect: what it touches, and what each proxy depends on.

A proxy's resources are a function of its identity, its own pod, the services listed in its
``Resources.depends_on`` (everything called, split targets, its pod's services and the split
roots they serve), the identities it may call, and mesh-wide settings. So a change concerns:

- the proxies *of* an identity whose own policy changed (allowances towards it: inbound RBAC;
  what it may reach; Retry policies from it; its certificate);
- the *callers* of an identity whose set of services changed (its pods or their labels);
- the proxies depending on a changed service (object, split, upstream settings, fault
  injection), closed over TrafficSplit relations one level (a backend gaining endpoints
  re-enters its roots' routes; a root appearing becomes reachable via its backends);
- the proxies holding the endpoints of a service whose pods changed (its callers, not its
  own replicas: their inbound side does not list endpoints);
- the proxy whose own pod changed; everything when the MeshConfig changed.

``affected_by`` turns a :class:`~osm_mesh.catalog.diff.CatalogDiff` into an :class:`Affected`
(and the next :class:`MeshIndex`); :class:`Dependents` finds the connected proxies concerned.
Over-approximating is safe (a proxy is translated again and comes out the same); missing one is
not, which ``tests/mesh/envoy/test_scope.py`` checks against full recomputes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from osm_mesh.catalog.diff import CatalogDiff
from osm_mesh.catalog.model import Catalog, Identity
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.model import Dependencies, ProxyIdentity

Key = tuple[str, str]


@dataclass
class Affected:
    """What a change touches, in the terms proxies depend on."""

    everything: bool = False
    # Their own policy: what may call them (inbound RBAC), or what they may call (reach,
    # Retry policies from them; a ServiceAccount appearing or going).
    allowances: set[Identity] = field(default_factory=set)
    reach: set[Identity] = field(default_factory=set)
    members: set[Identity] = field(default_factory=set)  # their pods/services: concerns callers
    services: set[Key] = field(default_factory=set)
    endpoints: set[Key] = field(default_factory=set)
    pods: set[Key] = field(default_factory=set)
    uuids: set[str] = field(default_factory=set)

    @property
    def identities(self) -> set[Identity]:
        return self.allowances | self.reach


def _destination(target) -> Identity:  # type: ignore[no-untyped-def]
    return Identity(target.destination.namespace or target.namespace, target.destination.name)


def affected_by(diff: CatalogDiff, old: MeshIndex, catalog: Catalog) -> tuple[MeshIndex, Affected]:
    """The index of ``catalog`` (derived from ``old``) and what ``diff`` affects."""
    if diff.everything or old.catalog.permissive != catalog.permissive:
        return MeshIndex(catalog, old.options), Affected(everything=True)
    catalogs = (old.catalog, catalog)
    # Destinations whose allowances may differ: their TrafficTargets changed, or a route
    # group / TCP / UDP route one of their TrafficTargets names did.
    destinations = set(diff.targets_to)
    rules = {("HTTPRouteGroup", k) for k in diff.route_groups}
    rules |= {("TCPRoute", k) for k in diff.tcp_routes}
    rules |= {("UDPRoute", k) for k in diff.udp_routes}
    if rules:
        for cat in catalogs:
            for target in cat.traffic_targets:
                if any((r.kind, (target.namespace, r.name)) in rules for r in target.rules):
                    destinations.add(_destination(target))
    index, moved = old.updated(catalog, diff, destinations)

    out = Affected(
        allowances=destinations,
        reach=moved | diff.identities,
        members=set(diff.identity_pods),
        services=diff.services | diff.split_roots,
        endpoints=set(diff.endpoints),
        pods=set(diff.pods),
        uuids=set(diff.uuids),
    )
    # A pod joining or leaving a service changes its identity's services too.
    for cat in catalogs:
        for key in diff.pods:
            pod = cat.pod(*key)
            if pod is not None:
                out.members.add(pod.identity)
    for retry in diff.retries:
        out.reach.add(Identity(retry.source.namespace or retry.namespace, retry.source.name))
    for policy in (*diff.upstream_traffic_settings, *diff.fault_injections):
        out.services.add((policy.namespace, policy.service))
    _close_over_splits(out.services, out.endpoints, diff.route_groups, catalogs)
    return index, out


def _close_over_splits(
    services: set[Key], endpoints: set[Key], route_groups: set[Key], catalogs: Iterable[Catalog]
) -> None:
    """Add the split partners (roots <-> backends) of changed services, in both catalogs."""
    changed = services | endpoints
    partners: set[Key] = set()
    for cat in catalogs:
        for split in cat.traffic_splits:
            root = (split.namespace, split.service)
            backends = {(split.namespace, b.service) for b in split.backends}
            matched = any(
                m.kind == "HTTPRouteGroup" and (split.namespace, m.name) in route_groups
                for m in split.matches
            )
            if matched or root in changed or backends & changed:
                partners.add(root)
                partners |= backends
    services |= partners


@dataclass(frozen=True)
class _Record:
    identity: Identity
    uuid: str
    pods: frozenset[Key]  # the pod it was given, and the one it named (pod_name fallback)
    services: frozenset[Key]
    endpoints: frozenset[Key]
    every_service: bool


class Dependents:
    """Each connected proxy's dependencies, indexed the other way round. Not thread-safe."""

    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}
        self._by_identity: dict[Identity, set[str]] = {}
        self._by_service: dict[Key, set[str]] = {}
        self._by_endpoints: dict[Key, set[str]] = {}
        self._by_pod: dict[Key, set[str]] = {}
        self._by_uuid: dict[str, set[str]] = {}
        self._every_service: set[str] = set()

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, node: object) -> bool:
        return node in self._records

    def nodes(self) -> list[str]:
        return sorted(self._records)

    def record(self, node: str, proxy: ProxyIdentity, depends_on: Dependencies) -> None:
        """Record (or replace) what ``node``'s current resources were built from."""
        pods = {depends_on.pod} if depends_on.pod is not None else set()
        if proxy.pod_name:
            pods.add((proxy.identity.namespace, proxy.pod_name))
        record = _Record(
            proxy.identity,
            proxy.proxy_uuid,
            frozenset(pods),
            depends_on.services,
            depends_on.endpoints,
            depends_on.every_service,
        )
        if self._records.get(node) == record:
            return  # the usual case when everyone is translated again: nothing to re-index
        self.remove(node)
        self._records[node] = record
        self._by_identity.setdefault(record.identity, set()).add(node)
        self._by_uuid.setdefault(record.uuid, set()).add(node)
        for pod in record.pods:
            self._by_pod.setdefault(pod, set()).add(node)
        for service in record.services:
            self._by_service.setdefault(service, set()).add(node)
        for service in record.endpoints:
            self._by_endpoints.setdefault(service, set()).add(node)
        if record.every_service:
            self._every_service.add(node)

    def remove(self, node: str) -> None:
        record = self._records.pop(node, None)
        if record is None:
            return
        _discard(self._by_identity, record.identity, node)
        _discard(self._by_uuid, record.uuid, node)
        for pod in record.pods:
            _discard(self._by_pod, pod, node)
        for service in record.services:
            _discard(self._by_service, service, node)
        for service in record.endpoints:
            _discard(self._by_endpoints, service, node)
        self._every_service.discard(node)

    def of_identities(self, identities: Iterable[Identity]) -> set[str]:
        out: set[str] = set()
        for identity in identities:
            out |= self._by_identity.get(identity, set())
        return out

    def affected(self, change: Affected, old: MeshIndex, new: MeshIndex) -> set[str]:
        """Connected proxies whose resources ``change`` can alter."""
        if change.everything:
            return set(self._records)
        out = self.of_identities(change.identities)
        for member in change.members:
            out |= self.of_identities(old.callers(member) | new.callers(member))
        if change.services or change.endpoints:
            out |= self._every_service
        for service in change.services:
            out |= self._by_service.get(service, set())
        for service in change.endpoints:
            out |= self._by_endpoints.get(service, set())
        for pod in change.pods:
            out |= self._by_pod.get(pod, set())
        for uuid in change.uuids:
            out |= self._by_uuid.get(uuid, set())
        return out


def _discard(index: dict, key: object, node: str) -> None:  # type: ignore[type-arg]
    nodes = index.get(key)
    if nodes is not None:
        nodes.discard(node)
        if not nodes:
            del index[key]
