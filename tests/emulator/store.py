"""The object store: one dict per resource type, a global resourceVersion, an event log.

Everything the server and the simulation do goes through one re-entrant lock,
so concurrent client threads see the same serialisable history a real etcd
would give. Objects are stored as plain JSON dicts and deep-copied on the way
in and out so callers can never mutate stored state by accident.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass

Key = tuple[str, str]  # (group, plural)


@dataclass
class WatchEvent:
    resource_version: int
    key: Key
    type: str  # ADDED | MODIFIED | DELETED
    object: dict


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[Key, dict[tuple[str, str], dict]] = {}
        self._rv = 1000
        self.events: list[WatchEvent] = []
        self.max_events = 5000
        # Watches from before this resourceVersion get 410 Gone (their history was dropped).
        # (Versions from before the store existed are unknown to it: too old as well.)
        self.history_start = self._rv

    @property
    def resource_version(self) -> int:
        return self._rv

    def next_rv(self) -> str:
        with self.lock:
            self._rv += 1
            return str(self._rv)

    def get(self, key: Key, namespace: str, name: str) -> dict | None:
        with self.lock:
            obj = self._objects.get(key, {}).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, key: Key, namespace: str | None = None) -> list[dict]:
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in self._objects.get(key, {}).items()
                if namespace is None or ns == namespace
            ]
        return sorted(
            items,
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )

    def put(self, key: Key, obj: dict, event: str) -> dict:
        """Store ``obj`` under a fresh resourceVersion; returns the stored copy."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj["metadata"]
            meta["resourceVersion"] = self.next_rv()
            self._objects.setdefault(key, {})[(meta.get("namespace", ""), meta["name"])] = obj
            self._record(key, event, obj)
            return copy.deepcopy(obj)

    def remove(self, key: Key, namespace: str, name: str) -> dict | None:
        with self.lock:
            obj = self._objects.get(key, {}).pop((namespace, name), None)
            if obj is not None:
                obj = copy.deepcopy(obj)
                obj["metadata"]["resourceVersion"] = self.next_rv()
                self._record(key, "DELETED", obj)
            return obj

    def kinds(self) -> Iterable[Key]:
        with self.lock:
            return list(self._objects)

    def _record(self, key: Key, event: str, obj: dict) -> None:
        self.events.append(WatchEvent(int(obj["metadata"]["resourceVersion"]), key, event, obj))
        # A long test run must not grow without bound; watches only need recent history.
        if len(self.events) > self.max_events:
            drop = max(1, self.max_events // 5)
            self.history_start = self.events[drop - 1].resource_version
            del self.events[:drop]
        self.changed.notify_all()
