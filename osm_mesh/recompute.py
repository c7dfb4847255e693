"""Scoped recompute: keep every connected proxy's snapshot current, translating only what changed.

:class:`Recomputer` owns the translation state of the control plane: the catalog the current
snapshots were built from, its :class:`~osm_mesh.envoy.index.MeshIndex`, and what each proxy's
resources depend on (:class:`~osm_mesh.envoy.scope.Dependents`). ``update(catalog)``:

1. diffs the new catalog against the current one (``osm_mesh.catalog.diff``),
2. derives the next index and what the diff affects (``osm_mesh.envoy.scope.affected_by``),
3. adds the identities whose certificate is due for renewal,
4. translates the affected proxies only (one Translator: shared resources built once) and
   stores their snapshots in one ``SnapshotCache.set_snapshots`` call.

A proxy no change can affect is not translated again and its snapshot is left as it is: the
same bytes a full recompute would give, which tests check over random change sequences.
``update(catalog, full=True)`` translates every proxy (the baseline the benchmarks compare to).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from osm_mesh.catalog.diff import diff_catalogs
from osm_mesh.catalog.model import Catalog, Identity
from osm_mesh.certs.rotation import CertManager
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.model import ProxyIdentity, TranslateOptions
from osm_mesh.envoy.scope import Dependents, affected_by
from osm_mesh.envoy.translate import Translator
from osm_mesh.gcpause import paused_gc
from osm_mesh.xds.cache import Snapshot, SnapshotCache

log = logging.getLogger("osm_mesh.recompute")


@dataclass(frozen=True)
class RecomputeStats:
    """One update: how many proxies it translated out of how many, and how long it took."""

    generation: int
    catalog_version: int
    proxies: int
    translated: int
    seconds: float
    full: bool
    nodes: tuple[str, ...] = ()  # the proxies translated (their snapshots were stored)


class Recomputer:
    """The translation state behind the SnapshotCache. Thread-safe (one lock)."""

    def __init__(
        self,
        cache: SnapshotCache,
        certs: CertManager,
        options: TranslateOptions,
        catalog: Catalog,
    ) -> None:
        self.cache = cache
        self.certs = certs
        self.options = options
        self.catalog = catalog
        self.index = MeshIndex(catalog, options)
        self._translator = Translator(self.index)
        self._proxies: dict[str, ProxyIdentity] = {}
        self._dependents = Dependents()
        self._lock = threading.RLock()
        self.generation = 0
        # node -> how many times its resources were translated (tests, metrics).
        self.translations: Counter[str] = Counter()
        self.last: RecomputeStats | None = None

    # -- proxies --------------------------------------------------------------------------
    def add(self, node: str, proxy: ProxyIdentity) -> Snapshot:
        """Register a connected proxy and store its first snapshot (current catalog)."""
        with self._lock:
            self._proxies[node] = proxy
            return self.cache.set_snapshots({node: self._translate(self._translator, node)})[node]

    def remove(self, node: str) -> ProxyIdentity | None:
        """Forget a proxy (its snapshot stays in the cache for a quick reconnect)."""
        with self._lock:
            self._dependents.remove(node)
            self.translations.pop(node, None)
            return self._proxies.pop(node, None)

    def proxies(self) -> dict[str, ProxyIdentity]:
        with self._lock:
            return dict(self._proxies)

    def sizes(self) -> dict[str, int]:
        """Entries per proxy: registered proxies, dependency records, translation counts."""
        with self._lock:
            return {
                "proxies": len(self._proxies),
                "dependents": len(self._dependents),
                "translation_counts": len(self.translations),
            }

    def memo_sizes(self) -> dict[str, int]:
        """Entries in the current Translator's memos (shared resources of live pods only)."""
        with self._lock:
            return self._translator.sizes()

    def holds(self, identity: Identity) -> bool:
        """Whether some registered proxy runs as ``identity``."""
        with self._lock:
            return bool(self._dependents.of_identities([identity]))

    # -- catalogs -------------------------------------------------------------------------
    def update(self, catalog: Catalog, *, full: bool = False) -> RecomputeStats:
        """Move to ``catalog``; translate the proxies it affects (every one when ``full``)."""
        start = time.perf_counter()
        with self._lock, paused_gc():
            old = self.index
            if full:
                index = MeshIndex(catalog, self.options)
                nodes = set(self._proxies)
                translator = Translator(index)
            else:
                index, affected = affected_by(diff_catalogs(self.catalog, catalog), old, catalog)
                nodes = self._dependents.affected(affected, old, index)
                nodes &= self._proxies.keys()
                translator = Translator.inherited(
                    self._translator, index, affected, live_certs=self.certs.held()
                )
            due = {Identity(ns, name) for ns, name in self.certs.due()}
            if due:
                nodes |= self._dependents.of_identities(due)
            self.catalog, self.index, self._translator = catalog, index, translator
            batch = {node: self._translate(translator, node) for node in sorted(nodes)}
            if batch:
                self.cache.set_snapshots(batch)
            self.generation += 1
            stats = RecomputeStats(
                self.generation,
                catalog.version,
                len(self._proxies),
                len(batch),
                time.perf_counter() - start,
                full,
                tuple(batch),
            )
            self.last = stats
            return stats

    def _translate(self, translator: Translator, node: str):  # type: ignore[no-untyped-def]
        proxy = self._proxies[node]
        resources = translator.translate(proxy, self.certs.get(proxy.identity))
        for note in resources.notes:
            log.debug("%s: %s", node, note)
        self._dependents.record(node, proxy, resources.depends_on)
        self.translations[node] += 1
        return resources.by_type()
