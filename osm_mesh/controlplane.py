"""The control plane: Source → Catalog → translate per connected proxy → SnapshotCache → ADS.

Used by the real-Envoy tests, the benchmarks and the local mesh (``osm_mesh.local``)::

    cp = ControlPlane(source, ca, ControlPlaneOptions(translate=TranslateOptions(mode="local")))
    cp.start()
    boot = cp.bootstrap_for(pod)            # Envoy bootstrap dict (ADS over mTLS)
    EnvoyProcess(boot, workdir).start()
    source.apply([...])                     # a policy change...
    cp.wait_converged(cp.version, 5)        # ...is ACKed by every connected Envoy
    cp.statuses()                           # per-proxy ACK/NACK state
    cp.stop()

Snapshots are only built for connected proxies (a proxy's first snapshot is built while its
stream opens). A catalog change or a certificate reaching its renewal time wakes one worker
thread, which waits until no further change arrives for ``coalesce_window`` seconds (at most
``coalesce_max``), then recomputes the proxies the changes can affect
(``osm_mesh.recompute``); changes arriving during a recompute coalesce into the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from osm_mesh.catalog.model import Identity, Pod
from osm_mesh.catalog.source import Source
from osm_mesh.certs.bootstrap import DEFAULT_VALIDITY as BOOTSTRAP_VALIDITY
from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.certs.ca import CertificateAuthority
from osm_mesh.certs.rotation import CertManager
from osm_mesh.convergence import ConvergenceTracker
from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap, node_id
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions
from osm_mesh.errors import InvalidInput, MeshError
from osm_mesh.recompute import Recomputer, RecomputeStats
from osm_mesh.xds.cache import SnapshotCache
from osm_mesh.xds.server import AdsServer, NodeId, ProxyStatus, ServerTLS

log = logging.getLogger("osm_mesh.controlplane")


@dataclass(frozen=True)
class ControlPlaneOptions:
    translate: TranslateOptions = field(default_factory=TranslateOptions)
    host: str = "127.0.0.1"
    port: int = 0
    # The DNS name in the ADS server certificate, checked by every Envoy (upstream's Service).
    controller_name: str = "osm-controller.osm-system.svc"
    # SDS identity certificates: validity and renewal point (fraction of validity).
    cert_validity: dt.timedelta = dt.timedelta(hours=24)
    rotate_at: float = 0.7
    # Client certificates in bootstraps authenticate one proxy to ADS only (bootstrap CA).
    bootstrap_cert_validity: dt.timedelta = BOOTSTRAP_VALIDITY
    # A burst of changes is one recompute: after a change, wait until none arrives for this
    # long (seconds; 0 = recompute at once), but never longer than coalesce_max.
    coalesce_window: float = 0.01
    coalesce_max: float = 0.5

    # How long a disconnected proxy's status and snapshot are kept for a quick reconnect
    # (seconds); a proxy whose pod left the catalog is forgotten at once.
    departure_grace: float = 30.0


@dataclass(frozen=True)
class ProxySync:
    """One proxy's xDS state (a copy) and what its newest snapshot holds."""

    status: ProxyStatus
    latest: dict[str, str]  # type URL -> version of the newest snapshot built for it
    resources: dict[str, int]  # type URL -> number of resources in that snapshot
    generation: int  # that snapshot's version (-1: none yet)
    cert_not_after: dt.datetime | None  # expiry of the identity certificate served by SDS


class ControlPlane:
    def __init__(
        self,
        source: Source,
        ca: CertificateAuthority,
        options: ControlPlaneOptions | None = None,
    ) -> None:
        self.source = source
        self.ca = ca
        # Signs the bootstrap (ADS client) certificates; the ADS server trusts only it.
        self.bootstrap_ca = bootstrap_authority(ca)
        self.options = options or ControlPlaneOptions()
        self.cache = SnapshotCache()
        catalog = source.snapshot()
        self.trust_domain = catalog.trust_domain
        self.certs = CertManager(
            ca,
            trust_domain=self.trust_domain,
            validity=self.options.cert_validity,
            rotate_at=self.options.rotate_at,
        )
        self.server: AdsServer | None = None
        self._lock = threading.RLock()
        self.recomputer = Recomputer(self.cache, self.certs, self.options.translate, catalog)
        self.convergence = ConvergenceTracker(self.cache.get, self._status_of)
        self._generation = 0
        self._generation_changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unwatch: Any = None
        self.last_error: str | None = None
        self.regenerations = 0
        self.last_recompute: RecomputeStats | None = None
        # forget_departed_pods: the proxies already found to have their pod in the catalog
        # whose pod table is _pods_seen. While later catalogs keep that very table (no pod
        # came, went or changed: incremental catalogs share untouched tables), those proxies
        # need no second look; at 10,000 proxies the look costs ~50 ms of CPU per change.
        self._pods_seen: object = None
        self._nodes_seen: set[str] = set()

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> ControlPlane:
        server_cert = self.ca.issue_for_names(
            common_name=self.options.controller_name,
            dns_names=[self.options.controller_name],
            validity=dt.timedelta(days=365),
        )
        self.server = AdsServer(
            self.cache,
            host=self.options.host,
            port=self.options.port,
            # Only bootstrap certificates open ADS streams: not the data-plane ones.
            tls=ServerTLS(server_cert.cert_pem, server_cert.key_pem, self.bootstrap_ca.cert_pem),
            trust_domain=self.trust_domain,
            authorize=self.authorize,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_depart=self._on_depart,
            departure_grace=self.options.departure_grace,
            on_progress=self.convergence.on_progress,
        )
        self.server.start()
        self._stopping.clear()
        self._unwatch = self.source.watch(lambda _catalog: self._wake.set())
        for target, name in (
            (self._regenerate_loop, "cp-regen"),
            (self._rotation_loop, "cp-rotate"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        log.info("control plane listening on %s:%s", self.options.host, self.port)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for t in self._threads:
            t.join(5)
        self._threads.clear()
        if self.server is not None:
            self.server.stop()
        with self._lock:
            for node in self.recomputer.proxies():
                self.recomputer.remove(node)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self.server is None or self.server.port is None:
            raise MeshError("the control plane is not running")
        return self.server.port

    @property
    def version(self) -> int:
        """The generation of the newest snapshots (grows with each regeneration)."""
        with self._lock:
            return self._generation

    # -- proxies --------------------------------------------------------------------
    def node_id_for(self, pod: Pod) -> str:
        if not pod.proxy_uuid:
            raise InvalidInput(f"pod {pod} has no proxy UUID", hint="is it meshed?")
        return node_id(pod.proxy_uuid, pod.service_account, pod.namespace, self.trust_domain)

    def bootstrap_for(
        self,
        pod: Pod,
        *,
        admin_host: str = "127.0.0.1",
        admin_port: int = 0,
        ads_host: str | None = None,
    ) -> dict[str, Any]:
        """A bootstrap for ``pod``'s Envoy, with a fresh ADS client certificate inline (a
        bootstrap certificate for this one proxy)."""
        node = self.node_id_for(pod)
        cert = issue_bootstrap(
            self.bootstrap_ca, node, validity=self.options.bootstrap_cert_validity
        )
        return bootstrap(
            node_id=node,
            cluster=f"{pod.service_account}.{pod.namespace}",
            ads_host=ads_host or self.options.host,
            ads_port=self.port,
            tls=BootstrapTLS(cert_pem=cert.cert_pem, key_pem=cert.key_pem, ca_pem=self.ca.cert_pem),
            admin_host=admin_host,
            admin_port=admin_port,
            controller_san=self.options.controller_name,
        )

    def authorize(self, node: NodeId) -> str | None:
        """None when ``node`` is the proxy of a live pod of its identity, else why not: SDS
        serves an identity's keys only to such proxies."""
        pod = self.source.snapshot().pod_by_uuid(node.proxy_uuid)
        if pod is None:
            return f"no pod in the mesh has proxy UUID {node.proxy_uuid}"
        if pod.identity != Identity(node.namespace, node.service_account):
            return (
                f"pod {pod.namespace}/{pod.name} with proxy UUID {node.proxy_uuid} runs as "
                f"{pod.namespace}/{pod.service_account}, not "
                f"{node.namespace}/{node.service_account}"
            )
        return None

    def statuses(self) -> dict[str, ProxyStatus]:
        return self.server.statuses() if self.server is not None else {}

    def proxy_sync(self) -> list[ProxySync]:
        """Read-only: each proxy's xDS state beside its newest snapshot (``osm proxy status``)."""
        statuses = self.statuses()
        proxies = self.recomputer.proxies()
        out = []
        for node, status in sorted(statuses.items()):
            snapshot = self.cache.get(node)
            proxy = proxies.get(node)
            cert = self.certs.peek(proxy.identity) if proxy is not None else None
            out.append(
                ProxySync(
                    status=status,
                    latest=dict(snapshot.type_versions) if snapshot is not None else {},
                    resources=(
                        {t: len(r) for t, r in snapshot.resources.items()} if snapshot else {}
                    ),
                    generation=snapshot.version if snapshot is not None else -1,
                    cert_not_after=cert.not_after if cert is not None else None,
                )
            )
        return out

    def connected(self) -> list[str]:
        return self.server.connected_nodes() if self.server is not None else []

    def wait_connected(self, count: int, timeout: float = 10.0) -> bool:
        assert self.server is not None
        return self.server.wait_for(
            lambda st: sum(1 for s in st.values() if s.connected) >= count, timeout
        )

    def converged(self, version: int | None = None) -> bool:
        """Every connected proxy ACKed a snapshot from generation ``version`` or later."""
        if self.server is None:
            return False
        target = self.version if version is None else version
        # After a recompute every registered proxy's snapshot reflects its generation (the
        # unaffected ones were already right); those given a new one are pending until ACKed.
        return self._generation >= target and not self.convergence.pending()

    def wait_converged(self, version: int | None = None, timeout: float = 10.0) -> bool:
        """Block until every connected proxy ACKed generation ``version`` (default: current)."""
        assert self.server is not None
        target = self.version if version is None else version
        deadline = time.monotonic() + timeout
        with self._generation_changed:
            while self._generation < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._generation_changed.wait(remaining)
        return self.convergence.wait(max(0.0, deadline - time.monotonic()))

    def _status_of(self, node: str) -> ProxyStatus | None:
        return self.server.status(node) if self.server is not None else None

    def regenerate(self, *, full: bool = False) -> int:
        """Bring every connected proxy's snapshot up to the source's current catalog now:
        only the proxies the changes affect are translated (all of them with ``full``).
        Returns the new generation."""
        with self._lock:
            stats = self.recomputer.update(self.source.snapshot(), full=full)
            self.convergence.track(stats.nodes)
            self._generation += 1
            self.regenerations += 1
            self.last_recompute = stats
            self._generation_changed.notify_all()
            return self._generation

    # -- internals ------------------------------------------------------------------
    def _on_connect(self, node: NodeId) -> None:
        proxy = ProxyIdentity(node.proxy_uuid, Identity(node.namespace, node.service_account))
        node_text = _node_text(node)
        with self._lock:
            # Translated against the catalog the other snapshots reflect; a newer one is
            # already waiting for the worker.
            self.recomputer.add(node_text, proxy)
        self.convergence.track([node_text])

    def _on_disconnect(self, node: NodeId) -> None:
        # The snapshot stays in the cache for the grace period, so a reconnecting proxy is
        # answered at once; the proxy is no longer regenerated.
        self._drop_proxy(_node_text(node))

    def _on_depart(self, node_text: str) -> None:
        """The ADS server forgot a departed proxy: so does the control plane. (It may run
        before ``_on_disconnect`` of the same stream: both callbacks share a thread pool.)"""
        self._nodes_seen.discard(node_text)
        if self._drop_proxy(node_text):
            with self._lock:
                # A regeneration that still counted the proxy may have stored a snapshot
                # after the server dropped its own; none can come after this (same lock).
                self.cache.clear(node_text)

    def _drop_proxy(self, node_text: str) -> bool:
        """Stop regenerating a proxy that has no live stream; False when it has one again."""
        if self.server is not None and self.server.is_connected(node_text):
            return False  # a newer stream of the same proxy took over
        self.convergence.forget(node_text)
        with self._lock:
            proxy = self.recomputer.remove(node_text)
            if proxy is not None and not self.recomputer.holds(proxy.identity):
                # Nobody holds this identity's certificate any more: stop renewing it.
                self.certs.forget(proxy.identity)
        return True

    def forget_departed_pods(self) -> int:
        """Forget proxies (connected or within their grace period) whose pod is no longer
        in the catalog: their streams end and their state goes. Returns how many."""
        if self.server is None:
            return 0
        catalog = self.source.snapshot()
        known = self.server.known_nodes()
        if catalog.pods is not self._pods_seen:
            self._pods_seen, self._nodes_seen = catalog.pods, set()
        else:
            self._nodes_seen.intersection_update(known)  # nothing kept for departed proxies
        gone = 0
        for node_text in known:
            if node_text in self._nodes_seen:
                continue
            try:
                node = NodeId.parse(node_text, self.trust_domain)
            except InvalidInput:
                continue
            pod = catalog.pod_by_uuid(node.proxy_uuid)
            if pod is None or pod.identity != Identity(node.namespace, node.service_account):
                self.server.forget(node_text, "its pod left the mesh")
                gone += 1
            else:
                self._nodes_seen.add(node_text)
        return gone

    def state_sizes(self) -> dict[str, int]:
        """Entries in every per-proxy map (tests and benchmarks check that departed proxies
        leave none)."""
        sizes = {
            **self.recomputer.sizes(),
            "certificates": len(self.certs),
            "pods_checked": len(self._nodes_seen),
        }
        sizes.update(self.convergence.sizes())
        sizes.update(self.cache.sizes())
        if self.server is not None:
            sizes.update(self.server.sizes())
        return sizes

    def _coalesce(self) -> None:
        """Wait until changes stop arriving for ``coalesce_window`` (at most ``coalesce_max``)."""
        window = self.options.coalesce_window
        if window <= 0:
            return
        deadline = time.monotonic() + self.options.coalesce_max
        while not self._stopping.is_set():
            self._wake.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._wake.wait(min(window, remaining)):
                return

    def _regenerate_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._coalesce()
            self._wake.clear()
            try:
                self.regenerate()
                self.forget_departed_pods()
                self.last_error = None
            except Exception as exc:  # keep serving the last snapshots; say why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("regeneration failed; proxies keep their last config")

    def _rotation_loop(self) -> None:
        while not self._stopping.is_set():
            due = self.certs.next_renewal()
            wait = 1.0 if due is None else (due - dt.datetime.now(dt.UTC)).total_seconds()
            if wait <= 0:
                log.info("certificate renewal due; regenerating")
                self._wake.set()
                wait = 0.5  # let the regeneration renew before looking again
            self._stopping.wait(min(max(wait, 0.05), 5.0))


def _node_text(node: NodeId) -> str:
    return ".".join(
        (node.proxy_uuid, node.kind, node.service_account, node.namespace, node.trust_domain)
    )
