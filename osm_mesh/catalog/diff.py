"""What changed between two catalogs, table by table (pure).

Catalogs are immutable and an incremental build (``osm_mesh.catalog.incremental``) shares every
unchanged object and lookup table with its predecessor, so most tables compare by identity in
O(1) and a changed table by one pass over its keys, identity first and equality only for the
entries that are not the same object. Catalogs built from scratch compare by equality: slower,
same answer.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from osm_mesh.catalog.model import Catalog, Identity

_MISSING: Any = object()

Key = tuple[str, str]


@dataclass
class CatalogDiff:
    """Keys whose lookups give a different answer in the new catalog.

    ``everything``: the MeshConfig changed (trust domain, permissive mode, egress...): every
    proxy's configuration may change.
    """

    everything: bool = False
    services: set[Key] = field(default_factory=set)  # the Service object
    endpoints: set[Key] = field(default_factory=set)  # pods of a service (endpoints, SANs)
    pods: set[Key] = field(default_factory=set)  # the Pod object, or the services it is in
    uuids: set[str] = field(default_factory=set)  # pod_by_uuid
    identity_pods: set[Identity] = field(default_factory=set)  # pods_of_identity
    identities: set[Identity] = field(default_factory=set)  # entered or left identities()
    targets_to: set[Identity] = field(default_factory=set)  # traffic_targets_to
    route_groups: set[Key] = field(default_factory=set)
    tcp_routes: set[Key] = field(default_factory=set)
    udp_routes: set[Key] = field(default_factory=set)
    split_roots: set[Key] = field(default_factory=set)  # traffic_splits_of
    # Resilience policies added, removed or changed (old and new versions of each).
    retries: list[Any] = field(default_factory=list)
    upstream_traffic_settings: list[Any] = field(default_factory=list)
    fault_injections: list[Any] = field(default_factory=list)

    @property
    def resilience_changed(self) -> bool:
        return bool(self.retries or self.upstream_traffic_settings or self.fault_injections)

    @property
    def empty(self) -> bool:
        return not (
            self.everything
            or self.services
            or self.endpoints
            or self.pods
            or self.uuids
            or self.identity_pods
            or self.identities
            or self.targets_to
            or self.route_groups
            or self.tcp_routes
            or self.udp_routes
            or self.split_roots
            or self.resilience_changed
        )


def changed_keys(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> set[Any]:
    """Keys present in one mapping only, or whose values differ (identity first)."""
    if old is new:
        return set()
    out = set()
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before is not value and before != value:
            out.add(key)
    out.update(key for key in old if key not in new)
    return out


def _strict(obj: Any) -> Hashable:
    # Every field, including those left out of ``==`` so the objects stay sortable (the
    # resilience policies' settings are compare=False).
    return (type(obj).__name__, tuple(vars(obj).items()))


def _changed_items(old: tuple[Any, ...], new: tuple[Any, ...]) -> list[Any]:
    """Objects in one tuple only, compared field by field (old and new versions both)."""
    if old is new:
        return []
    before = {_strict(o): o for o in old}
    after = {_strict(o): o for o in new}
    return [before[k] for k in before.keys() - after.keys()] + [
        after[k] for k in after.keys() - before.keys()
    ]


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    """Everything a translation could see differently in ``new`` than in ``old``."""
    if old.mesh_config != new.mesh_config:
        return CatalogDiff(everything=True)
    a, b = old.lookup_tables(), new.lookup_tables()
    diff = CatalogDiff(
        services=changed_keys(a.services, b.services),
        endpoints=changed_keys(a.pods_by_service, b.pods_by_service),
        pods=changed_keys(a.pods, b.pods) | changed_keys(a.services_by_pod, b.services_by_pod),
        uuids=changed_keys(a.pods_by_uuid, b.pods_by_uuid),
        identity_pods=changed_keys(a.pods_by_identity, b.pods_by_identity),
        targets_to=changed_keys(a.targets_by_destination, b.targets_by_destination),
        route_groups=changed_keys(a.route_groups, b.route_groups),
        tcp_routes=changed_keys(a.tcp_routes, b.tcp_routes),
        udp_routes=changed_keys(a.udp_routes, b.udp_routes),
        split_roots=changed_keys(a.splits_by_root, b.splits_by_root),
        retries=_changed_items(old.retries, new.retries),
        upstream_traffic_settings=_changed_items(
            old.upstream_traffic_settings, new.upstream_traffic_settings
        ),
        fault_injections=_changed_items(old.fault_injections, new.fault_injections),
    )
    if a.identities is not b.identities and a.identities != b.identities:
        diff.identities = set(a.identities) ^ set(b.identities)
    return diff
