"""MeshIndex: the proxy-independent data every proxy's translation reads. Data only.

What it holds, per catalog: the SMI allowances towards each destination identity, who may call
whom (each source's reachable destinations and each destination's callers), split roots by
backend, the resilience policies, and the mesh-wide switches (egress, permissive). The builders
(``clusters``, ``inbound``, ``outbound``, ``rbac``) read it; ``translate`` calls the builders.

An index is built once for a catalog (``MeshIndex(catalog, options)``), or derived from the
previous catalog's index with :meth:`MeshIndex.updated`, which recomputes only the
destinations a :class:`~osm_mesh.catalog.diff.CatalogDiff` can have changed and reports whose
reachable set moved: that is what a scoped recompute needs (``osm_mesh.envoy.scope``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable

from osm_mesh.catalog.diff import CatalogDiff
from osm_mesh.catalog.model import Catalog, Identity, Service, ServicePort
from osm_mesh.envoy import pb, resilience
from osm_mesh.envoy.model import TranslateOptions
from osm_mesh.policy import ALL, Allowance, inbound_rules, split_backends

_EMPTY: frozenset[Identity] = frozenset()


class MeshIndex:
    """Everything proxy-independent about one (catalog, options)."""

    def __init__(self, catalog: Catalog, options: TranslateOptions) -> None:
        self.catalog = catalog
        self.options = options
        self.trust_domain = catalog.trust_domain
        self._lock = threading.RLock()
        self._allowances: dict[Identity, list[Allowance]] = {}
        self._split_roots: dict[tuple[str, str], list[Service]] | None = None
        # Egress needs the original destination, which only iptables (cluster mode) provides.
        self.egress = options.mode == "cluster" and catalog.mesh_config.enable_egress
        self.passthrough = pb.passthrough_cluster(options.connect_timeout)
        # Retries, timeouts, circuit breaking, fault injection (docs/resilience.md).
        self.resilience = resilience.ResilienceIndex(catalog)
        # SMI mode: destination -> sources some TrafficTarget lets call it, and the reverse.
        # Permissive mode: None (everyone reaches every service).
        self._callers: dict[Identity, frozenset[Identity]] | None = None
        self._reach: dict[Identity, frozenset[Identity]] | None = None
        if not catalog.permissive:
            self._callers, self._reach = {}, {}
            reach: dict[Identity, set[Identity]] = defaultdict(set)
            for destination in catalog.traffic_target_destinations():
                callers = _sources(self.allowances(destination))
                if callers:
                    self._callers[destination] = callers
                    for source in callers:
                        reach[source].add(destination)
            self._reach = {k: frozenset(v) for k, v in reach.items()}

    # -- policy ---------------------------------------------------------------------------
    def allowances(self, destination: Identity) -> list[Allowance]:
        """What each TrafficTarget (or permissive mode) allows towards ``destination``."""
        cached = self._allowances.get(destination)
        if cached is None:
            cached = inbound_rules(self.catalog, destination)
            self._allowances[destination] = cached
        return cached

    def reachable(self, source: Identity) -> frozenset[Identity] | None:
        """Destinations ``source`` may call something on; None in permissive mode (all)."""
        if self._reach is None:
            return None
        return self._reach.get(source, _EMPTY)

    def callers(self, destination: Identity) -> frozenset[Identity]:
        """Sources some TrafficTarget lets call ``destination`` (empty in permissive mode)."""
        if self._callers is None:
            return _EMPTY
        return self._callers.get(destination, _EMPTY)

    def outbound_services(self, source: Identity) -> tuple[tuple[Service, ServicePort], ...]:
        """HTTP/gRPC/TCP service ports ``source`` may call (directly or as a split root)."""
        catalog = self.catalog
        reachable = self.reachable(source)
        if reachable is None:
            services = set(catalog.services)
        else:
            services = set()
            for destination in reachable:
                services.update(catalog.services_of_identity(destination))
            # A split root is reachable when one of its backends is.
            for split in catalog.traffic_splits:
                root = catalog.service(split.namespace, split.service)
                if root is None or root in services:
                    continue
                backends = (catalog.service(split.namespace, b.service) for b in split.backends)
                if any(b in services for b in backends):
                    services.add(root)
        return tuple(
            (svc, sp) for svc in sorted(services) for sp in svc.ports if sp.protocol != "udp"
        )

    def is_split_backend(self, service: Service) -> bool:
        """Whether some TrafficSplit (with an existing root) names ``service`` as a backend."""
        return bool(self._roots_by_backend().get(service.key))

    def split_roots_of(self, backend: Service, port: int) -> list[Service]:
        """Split roots that send ``port`` traffic to ``backend`` (sorted, no duplicates)."""
        candidates = self._roots_by_backend().get(backend.key, [])
        return [
            root
            for root in candidates
            if any(b.key == backend.key for b, _ in split_backends(self.catalog, root, port))
        ]

    def _roots_by_backend(self) -> dict[tuple[str, str], list[Service]]:
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
            return self._split_roots

    def timeout_for(self, sp: ServicePort) -> float:
        return 0.0 if sp.protocol == "grpc" else self.options.route_timeout

    # -- the next catalog -----------------------------------------------------------------
    def updated(
        self, catalog: Catalog, diff: CatalogDiff, destinations: Iterable[Identity]
    ) -> tuple[MeshIndex, set[Identity]]:
        """This index moved to ``catalog``; returns it and the sources whose reach changed.

        ``destinations``: identities whose allowances the diff can have changed (their
        TrafficTargets, or a route those reference). Everything else is reused as is. A diff
        that changes the MeshConfig needs a new index instead (``diff.everything``).
        """
        if diff.everything or self.catalog.permissive != catalog.permissive:
            raise ValueError("a mesh-wide change needs a new MeshIndex")
        new = object.__new__(MeshIndex)
        new.catalog = catalog
        new.options = self.options
        new.trust_domain = self.trust_domain
        new._lock = threading.RLock()
        new._allowances = dict(self._allowances)
        new._split_roots = None  # O(splits), rebuilt on first use
        new.egress = self.egress
        new.passthrough = self.passthrough
        new.resilience = (
            resilience.ResilienceIndex(catalog) if diff.resilience_changed else self.resilience
        )
        new._callers, new._reach = None, None
        moved: set[Identity] = set()
        if self._callers is None or self._reach is None:
            for destination in destinations:
                new._allowances.pop(destination, None)
            return new, moved
        callers, reach = dict(self._callers), dict(self._reach)
        for destination in destinations:
            new._allowances.pop(destination, None)
            before = callers.get(destination, _EMPTY)
            after = _sources(new.allowances(destination))
            if after:
                callers[destination] = after
            else:
                callers.pop(destination, None)
            for source in before - after:
                left = reach.get(source, _EMPTY) - {destination}
                if left:
                    reach[source] = left
                else:
                    reach.pop(source, None)
                moved.add(source)
            for source in after - before:
                reach[source] = reach.get(source, _EMPTY) | {destination}
                moved.add(source)
        new._callers, new._reach = callers, reach
        return new, moved


def _sources(allowances: list[Allowance]) -> frozenset[Identity]:
    out: set[Identity] = set()
    for allowance in allowances:
        if allowance.sources is ALL:
            continue  # only permissive mode has ALL sources; it has no reach map
        out.update(allowance.sources)  # type: ignore[arg-type]
    return frozenset(out)


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
