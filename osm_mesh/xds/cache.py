"""Versioned, immutable per-node snapshots of Envoy resources (the go-control-plane model).

A :class:`Snapshot` holds every resource a proxy should have, keyed by xDS type URL and name.
Each type carries its own version string, which only moves when that type's content changed
(compared by deterministic serialization), so a policy change that touches only routes does not
make Envoy re-apply its clusters and listeners. ACK tracking compares these per-type versions.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf import any_pb2
from google.protobuf.message import Message

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

# Order of pushes after a change: secrets first (clusters/listeners that reference a changed
# secret then find it in place), clusters before their endpoints, listeners before routes.
PUSH_ORDER = (SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE)
# Types Envoy subscribes to as a wildcard (all resources); the others are requested by name.
WILDCARD_TYPES = frozenset({CLUSTER, LISTENER})
SHORT_NAMES = {CLUSTER: "CDS", ENDPOINT: "EDS", LISTENER: "LDS", ROUTE: "RDS", SECRET: "SDS"}

Resources = Mapping[str, Mapping[str, Message]]


def _pack(msg: Message, type_url: str) -> any_pb2.Any:
    return any_pb2.Any(type_url=type_url, value=msg.SerializeToString(deterministic=True))


@dataclass
class Snapshot:
    """All resources of one node at one version. Treat as immutable once built."""

    version: int
    resources: dict[str, dict[str, Message]]
    type_versions: dict[str, str]
    digests: dict[str, str]
    _packed: dict[str, dict[str, any_pb2.Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def packed(self, type_url: str) -> dict[str, any_pb2.Any]:
        """Resources of a type as ``Any`` (serialized once per snapshot, shared by streams)."""
        with self._lock:
            cached = self._packed.get(type_url)
            if cached is None:
                cached = {
                    name: _pack(msg, type_url)
                    for name, msg in sorted(self.resources.get(type_url, {}).items())
                }
                self._packed[type_url] = cached
            return cached


def _digest(type_url: str, items: Mapping[str, Message]) -> str:
    h = hashlib.sha256()
    for name in sorted(items):
        h.update(name.encode())
        h.update(b"\0")
        h.update(items[name].SerializeToString(deterministic=True))
        h.update(b"\0")
    return h.hexdigest()


class SnapshotCache:
    """Node id → latest snapshot; tells subscribers (the ADS streams) when a node's changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        self._version = 0
        self._watchers: dict[str, list[Callable[[Snapshot], None]]] = {}

    def set_snapshot(self, node_id: str, resources: Resources) -> Snapshot:
        """Store a node's resources under a new version; unchanged types keep their version."""
        normalized = {t: dict(resources.get(t, {})) for t in PUSH_ORDER}
        digests = {t: _digest(t, items) for t, items in normalized.items()}
        with self._lock:
            self._version += 1
            version = self._version
            previous = self._snapshots.get(node_id)
            type_versions = {}
            for t in PUSH_ORDER:
                if previous is not None and previous.digests[t] == digests[t]:
                    type_versions[t] = previous.type_versions[t]
                else:
                    type_versions[t] = str(version)
            snap = Snapshot(version, normalized, type_versions, digests)
            if previous is not None:
                # Unchanged types reuse the previous serialized Anys instead of re-packing.
                for t in PUSH_ORDER:
                    if previous.digests[t] == digests[t] and t in previous._packed:
                        snap._packed[t] = previous._packed[t]
            self._snapshots[node_id] = snap
            watchers = list(self._watchers.get(node_id, ()))
        for notify in watchers:
            notify(snap)
        return snap

    def get(self, node_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(node_id)

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._snapshots)

    def clear(self, node_id: str) -> None:
        with self._lock:
            self._snapshots.pop(node_id, None)

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def watch(self, node_id: str, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` on every new snapshot of ``node_id``; returns an unwatch."""
        with self._lock:
            self._watchers.setdefault(node_id, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                callbacks = self._watchers.get(node_id, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._watchers.pop(node_id, None)

        return unwatch
