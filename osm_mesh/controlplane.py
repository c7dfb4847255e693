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
thread that regenerates every connected proxy's snapshot; changes arriving during a
regeneration coalesce into the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from osm_mesh.catalog.model import Catalog, Identity, Pod
from osm_mesh.catalog.source import Source
from osm_mesh.certs.ca import CertificateAuthority, IssuedCert
from osm_mesh.certs.rotation import CertManager
from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap, node_id
from osm_mesh.envoy.translate import (
    MeshIndex,
    ProxyIdentity,
    TranslateOptions,
    mesh_index,
    translate,
)
from osm_mesh.errors import InvalidInput, MeshError
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
    # Client certificates in bootstraps authenticate proxies to ADS only.
    bootstrap_cert_validity: dt.timedelta = dt.timedelta(days=365)


class ControlPlane:
    def __init__(
        self,
        source: Source,
        ca: CertificateAuthority,
        options: ControlPlaneOptions | None = None,
    ) -> None:
        self.source = source
        self.ca = ca
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
        self._proxies: dict[str, ProxyIdentity] = {}
        # node id → generation whose catalog/certs its current snapshot reflects
        self._node_generation: dict[str, int] = {}
        self._generation = 0
        self._generation_changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unwatch: Any = None
        self.last_error: str | None = None
        self.regenerations = 0

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
            tls=ServerTLS(server_cert.cert_pem, server_cert.key_pem, self.ca.cert_pem),
            trust_domain=self.trust_domain,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
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
            self._proxies.clear()

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
        """A bootstrap for ``pod``'s Envoy, with a fresh ADS client certificate inline."""
        identity = pod.identity
        cert = self.ca.issue(
            identity,
            trust_domain=self.trust_domain,
            validity=self.options.bootstrap_cert_validity,
        )
        return bootstrap(
            node_id=self.node_id_for(pod),
            cluster=f"{pod.service_account}.{pod.namespace}",
            ads_host=ads_host or self.options.host,
            ads_port=self.port,
            tls=BootstrapTLS(cert_pem=cert.cert_pem, key_pem=cert.key_pem, ca_pem=self.ca.cert_pem),
            admin_host=admin_host,
            admin_port=admin_port,
            controller_san=self.options.controller_name,
        )

    def statuses(self) -> dict[str, ProxyStatus]:
        return self.server.statuses() if self.server is not None else {}

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
        statuses = self.server.statuses()
        return self._converged(statuses, self.version if version is None else version)

    def _converged(self, statuses: dict[str, ProxyStatus], version: int) -> bool:
        with self._lock:
            for node, status in statuses.items():
                if not status.connected:
                    continue
                if self._node_generation.get(node, -1) < version:
                    return False
                if not status.converged_to(self.cache.get(node)):
                    return False
            return True

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
        remaining = max(0.0, deadline - time.monotonic())
        return self.server.wait_for(lambda st: self._converged(st, target), remaining)

    def regenerate(self) -> int:
        """Rebuild every connected proxy's snapshot now; returns the new generation."""
        with self._lock:
            catalog = self.source.snapshot()
            generation = self._generation + 1
            index = mesh_index(catalog, self.options.translate)
            batch = {
                node: self._resources(catalog, node, proxy, index)
                for node, proxy in sorted(self._proxies.items())
            }
            self.cache.set_snapshots(batch)
            for node in batch:
                self._node_generation[node] = generation
            self._generation = generation
            self.regenerations += 1
            self._generation_changed.notify_all()
            return generation

    # -- internals ------------------------------------------------------------------
    def _resources(
        self, catalog: Catalog, node: str, proxy: ProxyIdentity, index: MeshIndex | None = None
    ) -> dict[str, dict[str, Message]]:
        cert: IssuedCert = self.certs.get(proxy.identity)
        resources = translate(catalog, proxy, self.options.translate, cert, index=index)
        for note in resources.notes:
            log.debug("%s: %s", node, note)
        return resources.by_type()

    def _on_connect(self, node: NodeId) -> None:
        proxy = ProxyIdentity(node.proxy_uuid, Identity(node.namespace, node.service_account))
        node_text = _node_text(node)
        with self._lock:
            self._proxies[node_text] = proxy
            resources = self._resources(self.source.snapshot(), node_text, proxy)
            self.cache.set_snapshot(node_text, resources)
            self._node_generation[node_text] = self._generation

    def _on_disconnect(self, node: NodeId) -> None:
        node_text = _node_text(node)
        status = self.server.statuses().get(node_text) if self.server is not None else None
        if status is not None and status.connected:
            return  # a newer stream of the same proxy took over
        with self._lock:
            # The snapshot stays in the cache so a reconnecting proxy is answered at once.
            proxy = self._proxies.pop(node_text, None)
            if proxy is not None and all(
                p.identity != proxy.identity for p in self._proxies.values()
            ):
                # Nobody holds this identity's certificate any more: stop renewing it.
                self.certs.forget(proxy.identity)

    def _regenerate_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            try:
                self.regenerate()
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
