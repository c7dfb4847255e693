"""A Source that lists and watches a cluster: what the in-cluster controller builds on.

One thread per resource kind runs the classic informer loop: LIST (remember the
resourceVersion), WATCH from there, apply ADDED/MODIFIED/DELETED to a local copy, and
LIST again on any error, on ``410 Gone`` and every ``resync_seconds`` (a missed event can
then only live that long). Objects are kept as raw JSON dicts, exactly what
``build_catalog`` reads, so no typed-model round trip is paid per event.

Changes wake one builder thread that builds the next Catalog at most every ``debounce``
seconds: a Deployment rolling 50 pods is one or two catalogs, not 150. Watch events are
applied incrementally (``osm_mesh.catalog.incremental``: only the changed objects are parsed
and patched in); a relist that found differences, and MeshConfig changes, rebuild in full.

Kinds watched: Namespaces, Pods, Services, ServiceAccounts (all namespaces; the catalog keeps
those of namespaces labelled ``openservicemesh.io/monitored-by=<mesh>``), the SMI kinds at
the newest version the API server serves (a kind whose CRD is missing is re-probed on each
resync), the resilience policies (Retry, UpstreamTrafficSetting, FaultInjection) likewise,
and the MeshConfig of the control-plane namespace.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from osm_mesh import labels
from osm_mesh.catalog.incremental import CatalogBuilder, DocKey, document_key
from osm_mesh.catalog.kube import _PLURALS, CUSTOM_KINDS
from osm_mesh.catalog.loader import Document
from osm_mesh.catalog.mesh_config_guard import MeshConfigGuard
from osm_mesh.catalog.model import Catalog
from osm_mesh.catalog.source import SnapshotSource
from osm_mesh.smi.meshconfig import CONFIG_GROUP, MESHCONFIG_VERSIONS

log = logging.getLogger("osm_mesh.catalog.kube_watch")

WATCH_TIMEOUT_S = 300
RESYNC_S = 600.0
RETRY_S = 2.0
MAX_RETRY_S = 60.0


@dataclass(frozen=True)
class Kind:
    """One watched resource: how to list it (``lister(**kw)``) and what it is called."""

    kind: str
    api_version: str
    lister: Callable[..., Any]
    args: tuple[Any, ...] = ()


# Ten watch streams hold a connection each for minutes; the default pool (5 per CPU) would
# leave every other call opening and discarding connections.
POOL_SIZE = 32


def resilient_client(kube: Any) -> Any:
    """The same cluster and credentials, set up for a long-running process: a pool that fits
    the watches, and one retry of idempotent requests whose pooled connection turned out to
    be closed (servers end watch connections; the CLI's fail-fast client has no retries)."""
    import copy

    from urllib3.util.retry import Retry

    from osm_mesh.kube.client import Kube, TimeoutApiClient

    api_client = getattr(kube, "api_client", None)
    configuration = getattr(api_client, "configuration", None)
    if configuration is None or getattr(kube, "resilient", False):
        return kube
    configuration = copy.copy(configuration)
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize or 0, POOL_SIZE
    )
    configuration.retries = Retry(
        total=2,
        connect=1,
        read=1,
        status=0,
        other=0,
        allowed_methods={"GET"},
        raise_on_status=False,
    )
    timeout = getattr(api_client, "default_timeout", (3.0, 20.0))
    wrapped = Kube(
        TimeoutApiClient(configuration, timeout), getattr(kube, "default_namespace", None)
    )
    wrapped.resilient = True  # type: ignore[attr-defined]
    return wrapped


def _short(exc: Exception) -> str:
    """The API server's message for API errors, the exception text otherwise."""
    from osm_mesh.kube.errors import status_message

    message = status_message(getattr(exc, "body", None))
    if message:
        return message
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


def _object_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _strip_rv(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Objects compared without their resourceVersion (it changes on every status write)."""
    out = {}
    for key, obj in objects.items():
        meta = dict(obj.get("metadata") or {})
        meta.pop("resourceVersion", None)
        meta.pop("managedFields", None)
        out[key] = {**obj, "metadata": meta}
    return out


class KubeSource(SnapshotSource):
    """``KubeSource(kube, mesh_name=..., osm_namespace=...).start()``; then the Source protocol.

    ``synced`` is set once every kind has been listed once (the controller's readiness).
    """

    def __init__(
        self,
        kube: Any,
        *,
        mesh_name: str = labels.DEFAULT_MESH_NAME,
        osm_namespace: str = labels.DEFAULT_OSM_NAMESPACE,
        mesh_config_name: str = labels.MESH_CONFIG_NAME,
        resync_seconds: float = RESYNC_S,
        watch_timeout: int = WATCH_TIMEOUT_S,
        debounce: float = 0.05,
        trust_domain: str | None = None,
    ) -> None:
        super().__init__()
        self.kube = resilient_client(kube)
        self.mesh_name = mesh_name
        self.osm_namespace = osm_namespace
        self.mesh_config_name = mesh_config_name
        self.resync_seconds = resync_seconds
        self.watch_timeout = watch_timeout
        self.debounce = debounce
        # The --trust-domain flag wins over the MeshConfig (upstream's flag was authoritative).
        self.trust_domain = trust_domain
        self.synced = threading.Event()
        # kind -> (namespace, name) -> object
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        # SMI kind -> "group/version" being watched (absent: CRD not served)
        self.served: dict[str, str] = {}
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listed: set[str] = set()
        self._expected: set[str] = set()
        self._responses: dict[str, Any] = {}
        self.errors = 0
        self.events = 0
        # A MeshConfig with errors is refused: the last valid one stays in force.
        self.mesh_config_guard = MeshConfigGuard()
        self._builder = CatalogBuilder(
            monitored=None,
            mesh_name=mesh_name,
            synthesize_pods=False,
            trust_domain=trust_domain,
        )
        # Objects changed by watch events since the last build (None: deleted), and whether
        # something needs a full rebuild (a relist found differences, a MeshConfig moved).
        self._changes: dict[DocKey, dict[str, Any] | None] = {}
        self._full = True

    # -- kinds -----------------------------------------------------------------------------
    def _core_kinds(self) -> list[Kind]:
        core = self.kube.core
        return [
            Kind("Namespace", "v1", core.list_namespace),
            Kind("Pod", "v1", core.list_pod_for_all_namespaces),
            Kind("Service", "v1", core.list_service_for_all_namespaces),
            Kind("ServiceAccount", "v1", core.list_service_account_for_all_namespaces),
        ]

    def _custom_kind(self, kind: str, group: str, versions: tuple[str, ...]) -> Kind | None:
        """The newest served version of a custom kind (one cheap probe per version)."""
        from kubernetes.client.exceptions import ApiException

        custom = self.kube.custom
        plural = "meshconfigs" if kind == "MeshConfig" else _PLURALS[kind]
        for version in sorted(versions, reverse=True):
            if kind == "MeshConfig":
                lister: Callable[..., Any] = custom.list_namespaced_custom_object
                args: tuple[Any, ...] = (group, version, self.osm_namespace, plural)
            else:
                lister = custom.list_cluster_custom_object
                args = (group, version, plural)
            try:
                lister(*args, limit=1, _request_timeout=(3.0, 10.0))
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            return Kind(kind, f"{group}/{version}", lister, args)
        return None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> KubeSource:
        self._stop.clear()
        names = [k.kind for k in self._core_kinds()] + [*CUSTOM_KINDS, "MeshConfig"]
        for name in names:
            self._objects.setdefault(name, {})
        targets: list[tuple[Callable[[], None], str]] = [
            (partial(self._run_core, k), k.kind) for k in self._core_kinds()
        ]
        for kind, (group, versions) in CUSTOM_KINDS.items():
            targets.append((partial(self._run_custom, kind, group, versions), kind))
        targets.append(
            (
                partial(self._run_custom, "MeshConfig", CONFIG_GROUP, MESHCONFIG_VERSIONS),
                "MeshConfig",
            )
        )
        self._expected = set(names)
        for target, name in targets:
            t = threading.Thread(target=target, name=f"watch-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        builder = threading.Thread(target=self._build_loop, name="catalog-builder", daemon=True)
        builder.start()
        self._threads.append(builder)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        with self._lock:
            responses = list(self._responses.values())
        for response in responses:
            # Unblocks a thread reading a watch stream.
            try:
                response.shutdown()
            except Exception:
                try:
                    response.close()
                except Exception:
                    pass
        for t in self._threads:
            t.join(5)
        self._threads.clear()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self.synced.wait(timeout)

    # -- informer loops ---------------------------------------------------------------------
    def _run_core(self, kind: Kind) -> None:
        self._informer(lambda: kind)

    def _run_custom(self, name: str, group: str, versions: tuple[str, ...]) -> None:
        def resolve() -> Kind | None:
            found = self._custom_kind(name, group, versions)
            with self._lock:
                if found is None:
                    self.served.pop(name, None)
                else:
                    self.served[name] = found.api_version
            return found

        self._informer(resolve, name)

    def _informer(self, resolve: Callable[[], Kind | None], name: str | None = None) -> None:
        failures = 0
        while not self._stop.is_set():
            kind: Kind | None = None
            try:
                kind = resolve()
                if kind is None:
                    # No CRD for it: nothing to watch; look again on the next resync.
                    self._replace(str(name), [], "")
                    self._stop.wait(min(self.resync_seconds, 30.0))
                    continue
                rv = self._list(kind)
                failures = 0
                deadline = time.monotonic() + self.resync_seconds
                while not self._stop.is_set() and time.monotonic() < deadline:
                    rv = self._watch(kind, rv, deadline)
            except _Gone:
                log.info("%s watch expired; listing again", name or (kind and kind.kind))
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.errors += 1
                failures += 1
                # Back off (2 s doubling to 60 s) so a missing permission is not a log flood.
                delay = min(RETRY_S * 2 ** (failures - 1), MAX_RETRY_S)
                log.warning(
                    "watching %s failed (%s); retrying in %gs",
                    name or (kind and kind.kind),
                    _short(exc),
                    delay,
                )
                self._stop.wait(delay)

    def _list(self, kind: Kind) -> str:
        response = kind.lister(*kind.args, _preload_content=False, _request_timeout=(3.0, 60.0))
        data = json.loads(response.data)
        items = data.get("items") or []
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        rv = str((data.get("metadata") or {}).get("resourceVersion") or "")
        self._replace(kind.kind, items, rv)
        return rv

    def _replace(self, kind: str, items: list[dict[str, Any]], rv: str) -> None:
        fresh = {_object_key(o): o for o in items}
        with self._lock:
            # A resync that finds nothing new must not make every proxy regenerate.
            changed = kind not in self._listed or _strip_rv(self._objects[kind]) != _strip_rv(fresh)
            self._objects[kind] = fresh
            self._listed.add(kind)
            if changed:
                self._full = True
            if self._listed >= self._expected:
                self.synced.set()
        if changed:
            self._dirty.set()

    def _watch(self, kind: Kind, rv: str, deadline: float) -> str:
        from kubernetes.watch.watch import iter_resp_lines

        remaining = max(1, int(min(self.watch_timeout, deadline - time.monotonic())))
        response = kind.lister(
            *kind.args,
            watch=True,
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=remaining,
            _preload_content=False,
            _request_timeout=(3.0, remaining + 10.0),
        )
        with self._lock:
            self._responses[kind.kind] = response
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    break
                event = json.loads(line)
                rv = self._apply(kind, event) or rv
        finally:
            with self._lock:
                self._responses.pop(kind.kind, None)
            # Never reuse a connection that carried a watch: the server may close it at the
            # end of the stream, and the next request on it would fail (no retries here).
            response.close()
            response.release_conn()
        return rv

    def _apply(self, kind: Kind, event: dict[str, Any]) -> str | None:
        kind_of_event = event.get("type")
        obj = event.get("object") or {}
        if kind_of_event == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise RuntimeError(obj.get("message") or "watch error")
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "") or None
        if kind_of_event == "BOOKMARK":
            return rv
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        key = _object_key(obj)
        with self._lock:
            if kind_of_event == "DELETED":
                self._objects[kind.kind].pop(key, None)
                self._changes[document_key(obj)] = None
            else:
                self._objects[kind.kind][key] = obj
                self._changes[document_key(obj)] = obj
            if kind.kind == "MeshConfig":
                self._full = True  # only the configured one counts: objects() picks it
            self.events += 1
        self._dirty.set()
        return rv

    # -- catalog ----------------------------------------------------------------------------
    def raw(self, kind: str) -> list[dict[str, Any]]:
        """The watched objects of one kind as the API server sent them (don't modify)."""
        with self._lock:
            return list(self._objects.get(kind, {}).values())

    def objects(self) -> list[dict[str, Any]]:
        with self._lock:
            out: list[dict[str, Any]] = []
            for kind, items in self._objects.items():
                if kind == "MeshConfig":
                    out.extend(o for (ns, n), o in items.items() if n == self.mesh_config_name)
                else:
                    out.extend(items.values())
            return out

    def _build_loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            # Let a burst of events land before building once.
            self._stop.wait(self.debounce)
            self._dirty.clear()
            if not self.synced.is_set():
                continue  # a half-listed cluster would look like deleted policy
            try:
                self.refresh()
            except Exception:
                log.exception("building the catalog failed; keeping the previous one")

    def rebuild(self) -> Catalog:
        """A catalog built from every watched object."""
        with self._lock:
            self._changes, self._full = {}, False
        objects = self.objects()

        def build(version: int) -> Catalog:
            documents = [Document(o) for o in objects]
            return self._guarded(self._builder.rebuild(documents, version=version))

        return self._publish(build)

    def refresh(self) -> Catalog:
        """The next catalog from the changes watched since the last one (in full if needed)."""
        with self._lock:
            changes, full = self._changes, self._full
            self._changes, self._full = {}, False
        if full:
            return self.rebuild()
        upserts = [Document(o) for o in changes.values() if o is not None]
        deletes = [k for k, o in changes.items() if o is None]

        def build(version: int) -> Catalog:
            catalog = self._builder.apply(upserts, deletes, version)
            if catalog is None:
                objects = [Document(o) for o in self.objects()]
                catalog = self._builder.rebuild(objects, version=version)
            return self._guarded(catalog)

        return self._publish(build)

    def _guarded(self, catalog: Catalog) -> Catalog:
        """The catalog with the MeshConfig in force (a refused one changes nothing) and the
        --trust-domain flag winning over the MeshConfig's."""
        with self._lock:
            configs = self._objects.get("MeshConfig", {})
            present = any(name == self.mesh_config_name for _, name in configs)
        catalog = self.mesh_config_guard.apply(catalog, present=present)
        if self.trust_domain and catalog.trust_domain != self.trust_domain:
            config = replace(catalog.mesh_config, trust_domain=self.trust_domain)
            catalog = replace(catalog, mesh_config=config)
        return catalog
