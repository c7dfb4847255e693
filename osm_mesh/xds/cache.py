"""Versioned, immutable per-node snapshots of Envoy resources (the go-control-plane model).

A :class:`Snapshot` holds every resource a proxy should have, keyed by xDS type URL and name.
Each type carries its own version string, which only moves when that type's content changed
(compared by deterministic serialization), so a policy change that touches only routes does not
make Envoy re-apply its clusters and listeners. ACK tracking compares these per-type versions.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
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

# type URL → {name: message}, or a list of such groups (groups shared between nodes are
# serialized once per set_snapshots call).
Resources = Mapping[str, Mapping[str, Message] | Sequence[Mapping[str, Message]]]


_NOTHING: Mapping[str, Message] = {}

# id(message) → (message, serialized bytes, digest). Lives for one set_snapshot(s) call: the
# translation shares one message object between every proxy needing the same resource
# (clusters, endpoints, outbound route tables), so a batch serializes each once and the
# snapshots share the resulting bytes object. The message is kept in the entry so its id
# cannot be reused while the memo lives.
_Memo = dict[int, tuple[Message, bytes, bytes]]


def _serialize(msg: Message, memo: _Memo) -> tuple[bytes, bytes]:
    entry = memo.get(id(msg))
    if entry is not None:
        return entry[1], entry[2]
    data = msg.SerializeToString(deterministic=True)
    digest = hashlib.blake2b(data, digest_size=16).digest()
    memo[id(msg)] = (msg, data, digest)
    return data, digest


@dataclass
class Snapshot:
    """All resources of one node at one version. Treat as immutable once built.

    ``serialized`` holds each resource's wire bytes (what is sent; shared between snapshots
    of proxies that got the same resource object).
    """

    version: int
    resources: dict[str, dict[str, Message]]
    type_versions: dict[str, str]
    digests: dict[str, str]
    serialized: dict[str, dict[str, bytes]] = field(default_factory=dict, repr=False)
    # The group objects each type was built from: a next snapshot handed the very same
    # objects reuses this one's bytes and digest for that type without looking inside.
    parts: dict[str, tuple[Mapping[str, Message], ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def packed(self, type_url: str) -> dict[str, any_pb2.Any]:
        """Resources of a type as ``Any``, sorted by name (built per response, not kept)."""
        return {
            name: any_pb2.Any(type_url=type_url, value=data)
            for name, data in sorted(self.serialized.get(type_url, {}).items())
        }


def _same_parts(a: tuple[Mapping[str, Message], ...], b: tuple[Mapping[str, Message], ...]) -> bool:
    """The same group objects, or groups equal name by name. A proxy translated again gets
    new group dicts even where its resources did not change (they then hold the very same
    shared messages, which compare by identity in C): a route change must not make every
    proxy's clusters, endpoints and secrets be hashed again."""
    return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b, strict=True))


class SnapshotCache:
    """Node id → latest snapshot; tells subscribers (the ADS streams) when a node's changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        self._version = 0
        self._watchers: dict[str, list[Callable[[Snapshot], None]]] = {}

    def set_snapshot(self, node_id: str, resources: Resources) -> Snapshot:
        """Store a node's resources under a new version; unchanged types keep their version."""
        return self.set_snapshots({node_id: resources})[node_id]

    def set_snapshots(self, batch: Mapping[str, Resources]) -> dict[str, Snapshot]:
        """Several nodes at once, serializing resources shared between them only once."""
        memo: _Memo = {}
        # id(group dict) → (group, wire bytes by name, digest): groups shared between proxies
        # (see Resources.by_type) are serialized and hashed once per batch.
        groups: dict[int, tuple[Mapping[str, Message], dict[str, bytes], bytes]] = {}

        def group(items: Mapping[str, Message]) -> tuple[dict[str, bytes], bytes]:
            hit = groups.get(id(items))
            if hit is not None:
                return hit[1], hit[2]
            h = hashlib.blake2b(digest_size=16)
            wire = {}
            for name in sorted(items):
                data, digest = _serialize(items[name], memo)
                wire[name] = data
                h.update(name.encode())
                h.update(b"\0")
                h.update(digest)
            groups[id(items)] = (items, wire, h.digest())
            return wire, h.digest()

        # (type, id of each part) → merged resources, wire bytes, digest: proxies handed the
        # same group objects (replicas) share one merge, and their snapshots share the dicts.
        merges: dict[tuple[object, ...], tuple[dict[str, Message], dict[str, bytes], str]] = {}

        def merge(t: str, parts: tuple[Mapping[str, Message], ...]):  # type: ignore[no-untyped-def]
            key = (t, *map(id, parts))
            hit = merges.get(key)
            if hit is not None:
                return hit
            h = hashlib.blake2b(digest_size=20)
            merged: dict[str, Message] = {}
            wire: dict[str, bytes] = {}
            for part in parts:
                part_wire, part_digest = group(part)
                merged.update(part)
                wire.update(part_wire)
                h.update(part_digest)
            hit = merges[key] = (merged, wire, h.hexdigest())
            return hit

        built: dict[str, tuple[dict, dict, dict, dict]] = {}
        # id(resources) -> (resources, what was built for it): replicas handed the same
        # resources object (Resources.by_type of a shared bundle) are processed once.
        same: dict[int, tuple[Resources, tuple[dict, dict, dict, dict]]] = {}
        for node_id, resources in batch.items():
            seen = same.get(id(resources))
            if seen is not None and seen[0] is resources:
                # Each snapshot gets its own dicts (the lock section below rewrites them).
                built[node_id] = tuple(dict(d) for d in seen[1])  # type: ignore[assignment]
                continue
            previous = self._snapshots.get(node_id)
            normalized: dict[str, dict[str, Message]] = {}
            serialized: dict[str, dict[str, bytes]] = {}
            digests: dict[str, str] = {}
            node_parts: dict[str, tuple[Mapping[str, Message], ...]] = {}
            for t in PUSH_ORDER:
                value = resources.get(t, _NOTHING)
                parts = tuple(value) if isinstance(value, list | tuple) else (value,)
                node_parts[t] = parts  # type: ignore[assignment]
                before = previous.parts.get(t) if previous is not None else None
                if before is not None and _same_parts(before, parts):  # type: ignore[arg-type]
                    assert previous is not None
                    normalized[t] = previous.resources[t]
                    serialized[t] = previous.serialized[t]
                    digests[t] = previous.digests[t]
                    continue
                normalized[t], serialized[t], digests[t] = merge(t, parts)  # type: ignore[arg-type]
            built[node_id] = (normalized, serialized, digests, node_parts)
            same[id(resources)] = (resources, built[node_id])
        out: dict[str, Snapshot] = {}
        notify: list[tuple[Callable[[Snapshot], None], Snapshot]] = []
        with self._lock:
            for node_id, (normalized, serialized, digests, node_parts) in built.items():
                self._version += 1
                version = self._version
                previous = self._snapshots.get(node_id)
                type_versions = {}
                for t in PUSH_ORDER:
                    if previous is not None and previous.digests[t] == digests[t]:
                        type_versions[t] = previous.type_versions[t]
                        # Same content: keep the bytes already held (and shared) by the old one.
                        serialized[t] = previous.serialized[t]
                    else:
                        type_versions[t] = str(version)
                snap = Snapshot(version, normalized, type_versions, digests, serialized, node_parts)
                self._snapshots[node_id] = snap
                out[node_id] = snap
                notify += [(w, snap) for w in self._watchers.get(node_id, ())]
        for callback, snap in notify:
            callback(snap)
        return out

    def get(self, node_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(node_id)

    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._snapshots)

    def clear(self, node_id: str) -> None:
        with self._lock:
            self._snapshots.pop(node_id, None)

    def sizes(self) -> dict[str, int]:
        """Entries held per node: snapshots, and nodes with watchers (open streams)."""
        with self._lock:
            return {"snapshots": len(self._snapshots), "watched": len(self._watchers)}

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
