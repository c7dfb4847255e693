"""Where catalogs come from: the Source protocol and FileSource.

A Source hands out immutable ``Catalog`` snapshots and says when a new one exists:

- ``snapshot()`` -> the current Catalog (its ``version`` increases with each change);
- ``watch(callback)`` -> calls ``callback(catalog)`` after every change (in the thread that
  made it) and returns a function that unsubscribes;
- ``wait_for_change(since_version, timeout)`` -> True once ``version > since_version``.

``FileSource`` reads ordinary Kubernetes YAML (files, directories, multi-document) and
in-memory objects; ``reload()`` re-reads the files, ``apply``/``delete``/``replace_objects``
change policy live (tests, the local mesh). Deployments become pods; the ``pod_ip`` hook
says which IP each replica got (the local mesh allocates loopback addresses).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from osm_mesh.catalog.build import Monitored, PodIpHook
from osm_mesh.catalog.incremental import CatalogBuilder, DocKey, document_key
from osm_mesh.catalog.loader import Document, load_paths
from osm_mesh.catalog.model import Catalog
from osm_mesh.smi.model import MeshConfig

Callback = Callable[[Catalog], None]


@runtime_checkable
class Source(Protocol):
    def snapshot(self) -> Catalog: ...

    @property
    def version(self) -> int: ...

    def watch(self, callback: Callback) -> Callable[[], None]: ...

    def wait_for_change(self, since_version: int, timeout: float | None = None) -> bool: ...


def object_key(obj: dict[str, Any]) -> DocKey:
    """(API group, kind, namespace, name): how kubectl apply identifies an object."""
    return document_key(obj)


class SnapshotSource:
    """Versioning, change notification and waiting, shared by concrete sources."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._callbacks: list[Callback] = []
        self._catalog = Catalog()

    @property
    def version(self) -> int:
        return self._catalog.version

    def snapshot(self) -> Catalog:
        return self._catalog

    def watch(self, callback: Callback) -> Callable[[], None]:
        with self._cond:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def wait_for_change(self, since_version: int, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._catalog.version > since_version, timeout)

    def _publish(self, build: Callable[[int], Catalog]) -> Catalog:
        with self._cond:
            catalog = build(self._catalog.version + 1)
            self._catalog = catalog
            callbacks = list(self._callbacks)
            self._cond.notify_all()
        for cb in callbacks:
            cb(catalog)
        return catalog


class FileSource(SnapshotSource):
    """A Source over manifest files plus in-memory objects (in-memory wins on the same key).

    ``apply``/``delete``/``replace_objects`` build the next catalog incrementally from the
    objects that changed (``osm_mesh.catalog.incremental``); ``reload`` and ``set_pod_ip``
    rebuild it.
    """

    def __init__(
        self,
        paths: Sequence[str | Path] = (),
        objects: Iterable[dict[str, Any]] = (),
        *,
        monitored: Monitored = None,
        mesh_name: str | None = None,
        pod_ip: PodIpHook | None = None,
        mesh_config: MeshConfig | None = None,
    ) -> None:
        super().__init__()
        # Serializes changes: each builds on the previous state and publishes in order.
        self._changing = threading.RLock()
        self.paths = [Path(p) for p in paths]
        self.monitored = monitored if isinstance(monitored, str | None) else tuple(monitored)
        self.mesh_name = mesh_name
        self.mesh_config = mesh_config
        self._builder = CatalogBuilder(
            monitored=self.monitored, mesh_name=mesh_name, pod_ip=pod_ip, mesh_config=mesh_config
        )
        self._file_docs: list[Document] = []
        self._file_keys: set[DocKey] = set()
        self._load_problems: list[Any] = []
        self._overlay: dict[DocKey, dict[str, Any]] = {}
        for obj in objects:
            self._overlay[object_key(obj)] = obj
        self.reload()

    @property
    def pod_ip(self) -> PodIpHook | None:
        return self._builder.pod_ip

    def _documents(self) -> list[Document]:
        docs = [d for d in self._file_docs if object_key(d.obj) not in self._overlay]
        return docs + [Document(o) for o in self._overlay.values()]

    def _rebuild(self) -> Catalog:
        def build(version: int) -> Catalog:
            # YAML errors come from the loader, not the builder: keep them visible.
            return self._builder.rebuild(self._documents(), self._load_problems, version)

        return self._publish(build)

    def _change(self, upserts: list[dict[str, Any]], deletes: Iterable[DocKey]) -> Catalog:
        def build(version: int) -> Catalog:
            docs = [Document(o) for o in upserts]
            catalog = self._builder.apply(docs, deletes, version)
            if catalog is None:
                catalog = self._builder.rebuild(self._documents(), self._load_problems, version)
            return catalog

        return self._publish(build)

    def reload(self) -> Catalog:
        """Re-read every path and publish a new snapshot."""
        with self._changing:
            result = load_paths(self.paths) if self.paths else None
            self._file_docs = result.documents if result else []
            self._file_keys = {object_key(d.obj) for d in self._file_docs}
            self._load_problems = result.problems if result else []
            return self._rebuild()

    def apply(self, objects: Iterable[dict[str, Any]]) -> Catalog:
        """Create or replace objects (like ``kubectl apply``) and publish a new snapshot."""
        with self._changing:
            upserts = list(objects)
            # Overlaying a file object for the first time moves it in document order.
            moved = False
            for obj in upserts:
                key = object_key(obj)
                moved |= key not in self._overlay and key in self._file_keys
                self._overlay[key] = obj
            return self._rebuild() if moved else self._change(upserts, ())

    def delete(self, kind: str, name: str, namespace: str | None = None) -> Catalog:
        """Remove every object of that kind/name/namespace (files and in-memory)."""
        with self._changing:
            ns = namespace or ("" if kind == "Namespace" else "default")

            def match(key: tuple[str, str, str, str]) -> bool:
                return key[1:] == (kind, ns, name)

            gone = {k for k in self._overlay if match(k)} | {k for k in self._file_keys if match(k)}
            self._overlay = {k: v for k, v in self._overlay.items() if not match(k)}
            self._file_docs = [d for d in self._file_docs if not match(object_key(d.obj))]
            self._file_keys -= gone
            return self._change([], gone)

    def replace_objects(
        self, objects: Iterable[dict[str, Any]], *, keep_files: bool = True
    ) -> Catalog:
        """Replace all in-memory objects (and the file objects too unless ``keep_files``)."""
        with self._changing:
            before = self._overlay
            self._overlay = {object_key(o): o for o in objects}
            if not keep_files:
                self._file_docs = []
                self._file_keys = set()
                self._load_problems = []
                return self._rebuild()
            upserts = [o for k, o in self._overlay.items() if before.get(k) is not o]
            deletes = [k for k in before if k not in self._overlay]
            # An overlay appearing over, or vanishing from, a file object moves it.
            appeared = {k for k in self._overlay if k not in before}
            if (appeared | set(deletes)) & self._file_keys:
                return self._rebuild()
            return self._change(upserts, deletes)

    def set_pod_ip(self, pod_ip: PodIpHook | None) -> Catalog:
        """Change the pod-IP hook (the local mesh calls this once addresses are allocated)."""
        with self._changing:
            self._builder.pod_ip = pod_ip
            return self._rebuild()
