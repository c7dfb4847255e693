"""A catalog's lookup tables: built once in linear time, or patched for a few changed objects.

``LookupTables.build(catalog)`` indexes a catalog's sorted tuples. ``patched(changes, catalog)``
derives the tables of the next catalog from these ones when only a few objects changed: every
table the change does not touch is shared (the same dict), a touched one is copied and only
its affected entries are recomputed. ``tests/mesh/catalog/test_incremental.py`` checks patched
tables against built ones over random change sequences.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from osm_mesh.catalog.objects import Identity, Pod, Service, selector_matches
from osm_mesh.smi.model import HTTPRouteGroup, TCPRoute, TrafficSplit, TrafficTarget, UDPRoute

if TYPE_CHECKING:
    from osm_mesh.catalog.model import Catalog

Key = tuple[str, str]
T = TypeVar("T")
Pair = tuple[Any, Any]  # (old object or None, new object or None)


@dataclass
class Changes:
    """Objects replaced between two catalogs: (old or None, new or None), per kind."""

    services: list[tuple[Service | None, Service | None]] = field(default_factory=list)
    pods: list[tuple[Pod | None, Pod | None]] = field(default_factory=list)
    service_accounts: bool = False
    traffic_targets: list[tuple[TrafficTarget | None, TrafficTarget | None]] = field(
        default_factory=list
    )
    http_route_groups: list[Pair] = field(default_factory=list)
    tcp_routes: list[Pair] = field(default_factory=list)
    udp_routes: list[Pair] = field(default_factory=list)
    traffic_splits: list[tuple[TrafficSplit | None, TrafficSplit | None]] = field(
        default_factory=list
    )


# (namespace, name): how every catalog tuple is ordered. Keys are unique in a catalog, so
# this is the objects' dataclass order without comparing their other fields.
_key = attrgetter("namespace", "name")


def _destination(target: TrafficTarget) -> Identity | None:
    # A TrafficTarget in another namespace than its destination is invalid (the build step
    # reports it); it never grants anything.
    dest_ns = target.destination.namespace or target.namespace
    return Identity(dest_ns, target.destination.name) if dest_ns == target.namespace else None


def _first_label(service: Service) -> tuple[str, str, str] | None:
    if not service.selector:
        return None
    k, v = next(iter(service.selector.items()))
    return (service.namespace, k, v)


def replace_sorted(items: tuple[T, ...], old: Any, new: Any) -> tuple[T, ...]:
    """``items`` (sorted by (namespace, name), unique) with ``old`` replaced by ``new``."""
    out = list(items)
    if old is not None:
        i = bisect_left(out, _key(old), key=_key)
        if i < len(out) and _key(out[i]) == _key(old):
            del out[i]
    if new is not None:
        out.insert(bisect_left(out, _key(new), key=_key), new)
    return tuple(out)


class LookupTables:
    """Lookup tables for one Catalog: built in linear time, or patched (see ``patched``)."""

    services: dict[Key, Service]
    pods: dict[Key, Pod]
    pods_by_uuid: dict[str, Pod]
    uuid_count: dict[str, int]
    pods_by_identity: dict[Identity, tuple[Pod, ...]]
    identities: tuple[Identity, ...]
    candidates: dict[tuple[str, str, str], tuple[Service, ...]]
    services_by_pod: dict[Key, tuple[Service, ...]]
    pods_by_service: dict[Key, tuple[Pod, ...]]
    route_groups: dict[Key, HTTPRouteGroup]
    tcp_routes: dict[Key, TCPRoute]
    udp_routes: dict[Key, UDPRoute]
    targets_by_destination: dict[Identity, tuple[TrafficTarget, ...]]
    splits_by_root: dict[Key, tuple[TrafficSplit, ...]]

    @classmethod
    def build(cls, c: Catalog) -> LookupTables:
        self = cls()
        self.services = {s.key: s for s in c.services}
        self.pods = {p.key: p for p in c.pods}
        self.pods_by_uuid = {}
        self.uuid_count = defaultdict(int)
        for p in c.pods:
            if p.proxy_uuid:
                self.pods_by_uuid[p.proxy_uuid] = p  # the last pod (sorted) wins
                self.uuid_count[p.proxy_uuid] += 1
        self.uuid_count = dict(self.uuid_count)
        by_identity: dict[Identity, list[Pod]] = defaultdict(list)
        for p in c.pods:
            by_identity[p.identity].append(p)
        self.pods_by_identity = {k: tuple(v) for k, v in by_identity.items()}
        self.identities = tuple(sorted(set(c.service_accounts) | set(by_identity), key=_key))

        # Services indexed by (namespace, first selector label): a pod only has to be tested
        # against services sharing one of its labels, not against every service.
        candidates: dict[tuple[str, str, str], list[Service]] = defaultdict(list)
        for s in c.services:
            first = _first_label(s)
            if first is not None:
                candidates[first].append(s)
        self.candidates = {k: tuple(v) for k, v in candidates.items()}
        services_by_pod: dict[Key, list[Service]] = {}
        pods_by_service: dict[Key, list[Pod]] = defaultdict(list)
        for p in c.pods:
            found = self._services_of(p)
            for s in found:
                pods_by_service[s.key].append(p)
            services_by_pod[p.key] = found
        self.services_by_pod = {k: tuple(sorted(v, key=_key)) for k, v in services_by_pod.items()}
        self.pods_by_service = {k: tuple(sorted(v, key=_key)) for k, v in pods_by_service.items()}

        self.route_groups = {_key(g): g for g in c.http_route_groups}
        self.tcp_routes = {_key(r): r for r in c.tcp_routes}
        self.udp_routes = {_key(r): r for r in c.udp_routes}
        targets: dict[Identity, list[TrafficTarget]] = defaultdict(list)
        for t in c.traffic_targets:
            destination = _destination(t)
            if destination is not None:
                targets[destination].append(t)
        self.targets_by_destination = {k: tuple(v) for k, v in targets.items()}
        splits: dict[Key, list[TrafficSplit]] = defaultdict(list)
        for sp in c.traffic_splits:
            splits[(sp.namespace, sp.service)].append(sp)
        self.splits_by_root = {k: tuple(sorted(v, key=_key)) for k, v in splits.items()}
        return self

    def _services_of(self, pod: Pod) -> list[Service]:
        found: list[Service] = []
        for k, v in pod.labels.items():
            for s in self.candidates.get((pod.namespace, k, v), ()):
                if selector_matches(s.selector, pod.labels):
                    found.append(s)
        return found

    # -- patching -------------------------------------------------------------------------
    def patched(
        self, ch: Changes, pods: tuple[Pod, ...], service_accounts: tuple[Identity, ...]
    ) -> LookupTables:
        """The tables of the next catalog, which differs from this tables' catalog by ``ch``
        only and has these (sorted) ``pods`` and ``service_accounts``."""
        new = object.__new__(LookupTables)
        new.__dict__.update(self.__dict__)  # share every table; copy the ones touched
        if ch.services or ch.pods:
            new._patch_pods_and_services(self, ch, pods, service_accounts)
        elif ch.service_accounts:
            new.identities = tuple(
                sorted(set(service_accounts) | set(new.pods_by_identity), key=_key)
            )
        new.route_groups = _patch_map(self.route_groups, ch.http_route_groups)
        new.tcp_routes = _patch_map(self.tcp_routes, ch.tcp_routes)
        new.udp_routes = _patch_map(self.udp_routes, ch.udp_routes)
        if ch.traffic_targets:
            new.targets_by_destination = _patch_groups(
                self.targets_by_destination, ch.traffic_targets, _destination
            )
        if ch.traffic_splits:
            new.splits_by_root = _patch_groups(
                self.splits_by_root, ch.traffic_splits, lambda s: (s.namespace, s.service)
            )
        return new

    def _patch_pods_and_services(
        self,
        old: LookupTables,
        ch: Changes,
        pods: tuple[Pod, ...],
        service_accounts: tuple[Identity, ...],
    ) -> None:
        self.services = _patch_map(old.services, ch.services)
        self.pods = _patch_map(old.pods, ch.pods)
        if ch.services:
            groups: dict[tuple[str, str, str], list[tuple[Service | None, Service | None]]]
            groups = defaultdict(list)
            for before, after in ch.services:
                for s, pair in ((before, (before, None)), (after, (None, after))):
                    first = _first_label(s) if s is not None else None
                    if first is not None:
                        groups[first].append(pair)
            self.candidates = dict(old.candidates)
            for first, pairs in groups.items():
                members = self.candidates.get(first, ())
                for before, after in pairs:
                    members = replace_sorted(members, before, after)
                _set_or_drop(self.candidates, first, members)
        # Pods whose set of services may differ: the changed pods, and every pod the old or
        # the new version of a changed service selects.
        touched_pods: set[Key] = set()
        touched_services: set[Key] = set()
        identities: set[Identity] = set()
        uuids: set[str] = set()
        for before_pod, after_pod in ch.pods:
            for p in (before_pod, after_pod):
                if p is not None:
                    touched_pods.add(p.key)
                    identities.add(p.identity)
                    if p.proxy_uuid:
                        uuids.add(p.proxy_uuid)
        for before, after in ch.services:
            for s in (before, after):
                if s is None:
                    continue
                touched_services.add(s.key)
                touched_pods.update(p.key for p in old.pods_by_service.get(s.key, ()))
            if after is not None and after.selector:
                for candidate in _namespace_slice(pods, after.namespace):
                    if selector_matches(after.selector, candidate.labels):
                        touched_pods.add(candidate.key)
        self.services_by_pod = dict(old.services_by_pod)
        joined: dict[Key, list[Pod]] = defaultdict(list)  # service -> touched pods now in it
        for key in touched_pods:
            touched_services.update(s.key for s in old.services_by_pod.get(key, ()))
            current = self.pods.get(key)
            if current is None:
                self.services_by_pod.pop(key, None)
                continue
            services = tuple(sorted(self._services_of(current), key=_key))
            self.services_by_pod[key] = services
            for s in services:
                touched_services.add(s.key)
                joined[s.key].append(current)
        self.pods_by_service = dict(old.pods_by_service)
        for key in touched_services:
            kept = [p for p in old.pods_by_service.get(key, ()) if p.key not in touched_pods]
            _set_or_drop(
                self.pods_by_service, key, tuple(sorted(kept + joined.get(key, []), key=_key))
            )
        if ch.pods:
            self._patch_identities_and_uuids(old, ch, pods, service_accounts, identities, uuids)
        elif ch.service_accounts:
            self.identities = tuple(
                sorted(set(service_accounts) | set(self.pods_by_identity), key=_key)
            )

    def _patch_identities_and_uuids(
        self,
        old: LookupTables,
        ch: Changes,
        pods: tuple[Pod, ...],
        service_accounts: tuple[Identity, ...],
        identities: set[Identity],
        uuids: set[str],
    ) -> None:
        self.pods_by_identity = dict(old.pods_by_identity)
        for identity in identities:
            members = old.pods_by_identity.get(identity, ())
            for before, after in ch.pods:
                if before is not None and before.identity == identity:
                    members = replace_sorted(members, before, None)
                if after is not None and after.identity == identity:
                    members = replace_sorted(members, None, after)
            _set_or_drop(self.pods_by_identity, identity, members)
        if ch.service_accounts or old.pods_by_identity.keys() != self.pods_by_identity.keys():
            self.identities = tuple(
                sorted(set(service_accounts) | set(self.pods_by_identity), key=_key)
            )
        self.pods_by_uuid = dict(old.pods_by_uuid)
        self.uuid_count = dict(old.uuid_count)
        for before, after in ch.pods:
            if before is not None and before.proxy_uuid:
                self.uuid_count[before.proxy_uuid] -= 1
            if after is not None and after.proxy_uuid:
                self.uuid_count[after.proxy_uuid] = self.uuid_count.get(after.proxy_uuid, 0) + 1
        for uuid in uuids:
            count = self.uuid_count.get(uuid, 0)
            if count <= 0:
                self.uuid_count.pop(uuid, None)
                self.pods_by_uuid.pop(uuid, None)
            elif count == 1 and old.uuid_count.get(uuid, 0) <= 1:
                owner = next(p for _, p in ch.pods if p is not None and p.proxy_uuid == uuid)
                self.pods_by_uuid[uuid] = owner
            else:  # shared UUIDs (a mistake, but possible): the last pod in order wins
                self.pods_by_uuid[uuid] = [p for p in pods if p.proxy_uuid == uuid][-1]


def _namespace_slice(pods: tuple[Pod, ...], namespace: str) -> tuple[Pod, ...]:
    start = bisect_left(pods, namespace, key=lambda p: p.namespace)
    end = bisect_right(pods, namespace, lo=start, key=lambda p: p.namespace)
    return pods[start:end]


def _set_or_drop(table: dict[Any, Any], key: Any, value: tuple[Any, ...]) -> None:
    if value:
        table[key] = value
    else:
        table.pop(key, None)


def _patch_map(table: dict[Any, Any], pairs: Iterable[Pair]) -> dict[Any, Any]:
    pairs = list(pairs)
    if not pairs:
        return table
    out = dict(table)
    for before, _ in pairs:
        if before is not None:
            out.pop(before.key if hasattr(before, "key") else _key(before), None)
    for _, after in pairs:
        if after is not None:
            out[after.key if hasattr(after, "key") else _key(after)] = after
    return out


def _patch_groups(table: dict[Any, tuple[Any, ...]], pairs: Iterable[Pair], group_of) -> dict:  # type: ignore[no-untyped-def]
    out = dict(table)
    for before, after in pairs:
        for obj, replacement in ((before, (before, None)), (after, (None, after))):
            if obj is None:
                continue
            group = group_of(obj)
            if group is not None:
                _set_or_drop(out, group, replace_sorted(out.get(group, ()), *replacement))
    return out
