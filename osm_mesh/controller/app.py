"""The in-cluster controller: CA Secret, watching Source, ControlPlane (ADS), HTTP :9091.

``Controller(kube, settings).start()`` does, in order:

1. starts the HTTP server (so liveness answers while the rest comes up; readiness waits);
2. loads the mesh CA from Secret ``osm-ca-bundle``, creating it on the first start;
3. lists and watches the cluster (``KubeSource``) and waits for the first full listing;
4. starts the ControlPlane: ADS over mutual TLS on :15128, its server certificate for
   ``osm-controller.<namespace>.svc`` (what every injected bootstrap checks);
5. starts the helpers that follow the catalog: bootstrap Secrets owned by their pods and their
   certificates renewed (``bootstrap_secrets``), policy problems posted as Events
   (``events``), MeshConfig certificate validity applied to issuing.

``stop()`` undoes it in reverse; ``python -m osm_mesh.controller`` calls it on SIGTERM.
See docs/controller.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Histogram

import osm_mesh
from osm_mesh import labels
from osm_mesh.catalog.kube_watch import RESYNC_S, KubeSource, resilient_client
from osm_mesh.catalog.model import Catalog
from osm_mesh.certs.ca import CertificateAuthority, expiry_warning
from osm_mesh.controller.bootstrap_secrets import BootstrapSecretKeeper
from osm_mesh.controller.ca import ensure_ca
from osm_mesh.controller.events import ProblemReporter
from osm_mesh.controller.http import HttpServer, Reply
from osm_mesh.controller.metrics import SECONDS_BUCKETS, Metrics, NackTally, control_plane_values
from osm_mesh.controlplane import ControlPlane, ControlPlaneOptions
from osm_mesh.envoy.translate import TranslateOptions
from osm_mesh.errors import Timeout
from osm_mesh.smi.parse import SUPPORTED

log = logging.getLogger("osm_mesh.controller")


@dataclass(frozen=True)
class ControllerSettings:
    mesh_name: str = labels.DEFAULT_MESH_NAME
    osm_namespace: str = labels.DEFAULT_OSM_NAMESPACE
    mesh_config_name: str = labels.MESH_CONFIG_NAME
    ca_bundle_secret_name: str = labels.CA_BUNDLE_SECRET_NAME
    # A mounted copy of the CA Secret, used to restore the Secret if it was deleted.
    ca_bundle_dir: str | None = None
    trust_domain: str = "cluster.local"
    ads_host: str = "0.0.0.0"
    ads_port: int = labels.ADS_PORT
    http_host: str = "0.0.0.0"
    http_port: int = labels.CONTROLLER_HTTP_PORT
    # Loopback only (see labels.CONTROLLER_DEBUG_PORT); 0 picks a free port.
    debug_host: str = "127.0.0.1"
    debug_port: int = labels.CONTROLLER_DEBUG_PORT
    # A burst of changes is one recompute (see ControlPlaneOptions).
    coalesce_window: float = 0.01
    coalesce_max: float = 0.5
    resync_seconds: float = RESYNC_S
    # How long the first full listing of the cluster may take before start() gives up.
    sync_timeout: float = 60.0
    pod_name: str = ""


def version_info() -> dict[str, str]:
    return {
        "version": osm_mesh.__version__,
        "git_commit": osm_mesh.GIT_COMMIT,
        "build_date": osm_mesh.BUILD_DATE,
    }


def smi_versions() -> dict[str, str]:
    """SMI kind -> newest ``group/version`` this controller reads (older ones too)."""
    return {kind: f"{group}/{versions[-1]}" for kind, (group, versions) in SUPPORTED.items()}


class _TimedControlPlane(ControlPlane):
    """The ControlPlane with each regeneration timed, and the time until every connected
    proxy ACKed it observed by a watcher thread (both for /metrics)."""

    def __init__(
        self, *args: Any, translation: Histogram, config_update: Histogram, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._translation = translation
        self._config_update = config_update
        self._pending: tuple[int, float] | None = None
        self._pending_set = threading.Event()
        self._ack_thread: threading.Thread | None = None

    def start(self) -> _TimedControlPlane:
        super().start()
        self._ack_thread = threading.Thread(target=self._ack_loop, name="cp-ack-timer", daemon=True)
        self._ack_thread.start()
        return self

    def stop(self) -> None:
        super().stop()  # sets the stopping flag the ACK loop watches
        self._pending_set.set()
        if self._ack_thread is not None:
            self._ack_thread.join(5)

    def regenerate(self, *, full: bool = False) -> int:
        start = time.perf_counter()
        try:
            generation = super().regenerate(full=full)
        finally:
            self._translation.observe(time.perf_counter() - start)
        self._pending = (generation, start)
        self._pending_set.set()
        return generation

    def _ack_loop(self) -> None:
        while not self._stopping.is_set():
            self._pending_set.wait()
            self._pending_set.clear()
            pending, self._pending = self._pending, None
            if pending is None or not self.connected():
                continue
            generation, start = pending
            deadline = start + 30.0
            # Short waits so stop() is never held up by a proxy that does not answer.
            while not self._stopping.is_set() and time.perf_counter() < deadline:
                if self.wait_converged(generation, timeout=1.0):
                    self._config_update.observe(time.perf_counter() - start)
                    break


class Controller:
    def __init__(self, kube: Any, settings: ControllerSettings | None = None) -> None:
        self.kube = resilient_client(kube)
        self.settings = settings or ControllerSettings()
        self.metrics = Metrics()
        self.nacks = NackTally()
        self.metrics.read_from(lambda: control_plane_values(self))
        self.translation_seconds = self.metrics.histogram(
            "osm_translation_seconds",
            "Time to translate the catalog into every connected proxy's snapshot",
            SECONDS_BUCKETS,
        )
        self.config_update_seconds = self.metrics.histogram(
            "osm_proxy_config_update_time_seconds",
            "Time from a new snapshot to its ACK by every connected proxy",
            SECONDS_BUCKETS,
        )
        self.source: KubeSource | None = None
        self.ca: CertificateAuthority | None = None
        self.control_plane: ControlPlane | None = None
        self.ca_origin: str | None = None
        self.bootstrap_secrets: BootstrapSecretKeeper | None = None
        self.reporter: ProblemReporter | None = None
        self._unwatch_config: Any = None
        self.http = HttpServer(
            {
                ("GET", labels.CONTROLLER_VERSION_PATH): self._version,
                ("GET", labels.CONTROLLER_SMI_VERSION_PATH): lambda _b: Reply.json(smi_versions()),
                ("GET", labels.CONTROLLER_READY_PATH): self._ready,
                ("GET", labels.CONTROLLER_ALIVE_PATH): self._alive,
                ("GET", labels.CONTROLLER_METRICS_PATH): self.metrics.reply,
            },
            host=self.settings.http_host,
            port=self.settings.http_port,
            name="controller-http",
        )
        self.debug_http = HttpServer(
            {("GET", labels.CONTROLLER_PROXY_STATUS_PATH): self._proxy_status},
            host=self.settings.debug_host,
            port=self.settings.debug_port,
            name="controller-debug",
        )
        self.debug_error: str | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()

    # -- health ----------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, str]:
        if self._stopped.is_set():
            return False, "shutting down"
        if self.source is None or not self.source.synced.is_set():
            return False, "waiting for the first listing of the cluster"
        if self.control_plane is None or not self._started.is_set():
            return False, "starting the ADS server"
        return True, "ok"

    def _ready(self, _body: bytes) -> Reply:
        ready, reason = self.readiness()
        return Reply.text(reason + "\n", 200 if ready else 503)

    def _version(self, _body: bytes) -> Reply:
        info = version_info()
        if self.ca is not None:
            # So `osm version` can warn before the mesh CA expires (the date is public).
            info["ca_not_after"] = self.ca.not_after.isoformat()
        return Reply.json(info)

    def _proxy_status(self, _body: bytes) -> Reply:
        from osm_mesh.proxystatus import proxy_report

        cp, source = self.control_plane, self.source
        if cp is None:
            return Reply.text("the ADS server is not running yet\n", 503)
        catalog = source.snapshot() if source is not None else None
        report = proxy_report(
            cp.proxy_sync(),
            catalog,
            mesh=self.settings.mesh_name,
            generation=cp.version,
            trust_domain=cp.trust_domain,
        )
        return Reply.json(report)

    def _alive(self, _body: bytes) -> Reply:
        # Alive as long as the regeneration thread is not stuck in an error loop forever:
        # a failed regeneration keeps serving the last snapshots, which is still alive.
        return Reply.text("alive\n")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Controller:
        s = self.settings
        self.http.start()
        try:
            self.debug_http.start()
        except OSError as exc:
            # Diagnostics must never keep the control plane down: say so and run without.
            self.debug_error = f"cannot listen on {s.debug_host}:{s.debug_port}: {exc}"
            log.error("debug endpoints disabled: %s", self.debug_error)
        ca, self.ca_origin = ensure_ca(
            self.kube,
            s.osm_namespace,
            s.ca_bundle_secret_name,
            mesh_name=s.mesh_name,
            ca_dir=s.ca_bundle_dir,
        )
        self.ca = ca
        warning = expiry_warning(ca.not_after)
        if warning:
            log.warning("%s", warning)
        self.source = KubeSource(
            self.kube,
            mesh_name=s.mesh_name,
            osm_namespace=s.osm_namespace,
            mesh_config_name=s.mesh_config_name,
            resync_seconds=s.resync_seconds,
            trust_domain=s.trust_domain,
        ).start()
        if not self.source.wait_synced(s.sync_timeout):
            raise Timeout(
                f"could not list the cluster's mesh objects within {s.sync_timeout:g}s",
                hint="check the controller's RBAC and the API server's health",
            )
        self.source.rebuild()
        catalog = self.source.snapshot()
        options = ControlPlaneOptions(
            translate=TranslateOptions(mode="cluster"),
            host=s.ads_host,
            port=s.ads_port,
            controller_name=f"{labels.CONTROLLER_NAME}.{s.osm_namespace}.svc",
            cert_validity=dt.timedelta(seconds=catalog.mesh_config.service_cert_validity_seconds),
            coalesce_window=s.coalesce_window,
            coalesce_max=s.coalesce_max,
        )
        self.control_plane = _TimedControlPlane(
            self.source,
            ca,
            options,
            translation=self.translation_seconds,
            config_update=self.config_update_seconds,
        )
        self.control_plane.start()
        self._unwatch_config = self.source.watch(self._apply_mesh_config)
        self.bootstrap_secrets = BootstrapSecretKeeper(
            self.kube, self.source, ca, trust_domain=self.control_plane.trust_domain
        ).start()
        self.reporter = ProblemReporter(self.kube, self.source, s.pod_name).start()
        self._started.set()
        log.info(
            "osm-controller %s for mesh %s ready: ADS on :%s, HTTP on :%s",
            osm_mesh.__version__,
            s.mesh_name,
            self.control_plane.port,
            self.http.port,
        )
        return self

    def _apply_mesh_config(self, catalog: Catalog) -> None:
        """MeshConfig changes that are not part of the catalog reach the running parts."""
        cp = self.control_plane
        # Validated when the MeshConfig was parsed (smi/meshconfig.py), as at start.
        seconds = catalog.mesh_config.service_cert_validity_seconds
        if cp is None:
            return
        validity = dt.timedelta(seconds=seconds)
        if cp.certs.validity != validity:
            # New and renewed certificates get it; current ones live out their validity.
            log.info("certificate validity is now %s (MeshConfig)", validity)
            cp.certs.validity = validity

    def stop(self) -> None:
        self._stopped.set()
        if self._unwatch_config is not None:
            self._unwatch_config()
            self._unwatch_config = None
        for helper in (self.reporter, self.bootstrap_secrets):
            if helper is not None:
                helper.stop()
        if self.control_plane is not None:
            self.control_plane.stop()
        if self.source is not None:
            self.source.stop()
        self.debug_http.stop()
        self.http.stop()

    def __enter__(self) -> Controller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
