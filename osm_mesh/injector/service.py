"""The injector process: HTTPS webhook on :9090, health and metrics on :9091.

``InjectorService(kube, settings).start()``:

1. HTTP :9091 (``/health/alive`` at once, ``/health/ready`` once the webhook serves);
2. waits for the mesh CA the controller stores in Secret ``osm-ca-bundle``;
3. issues the webhook's serving certificate (DNS ``osm-injector.<ns>.svc`` and variants)
   and serves ``POST /mutate-pod-creation`` over TLS;
4. creates or updates MutatingWebhookConfiguration ``osm-webhook-<mesh>`` with the CA
   bundle, so the API server trusts exactly this mesh's CA for the call.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from osm_mesh import labels
from osm_mesh.certs.ca import CertificateAuthority, IssuedCert
from osm_mesh.controller.ca import wait_for_ca
from osm_mesh.controller.http import HttpServer, Reply, load_certificate, server_tls_context
from osm_mesh.controller.http_limits import Limits, MiB, RateLimit
from osm_mesh.controller.metrics import Metrics
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.webhook import (
    Injector,
    ensure_webhook_configuration,
    webhook_configuration,
)

log = logging.getLogger("osm_mesh.injector")

WEBHOOK_CERT_VALIDITY = dt.timedelta(days=365)
# The API server refuses request bodies over 3 MiB, so no pod it admits makes a larger
# AdmissionReview than this. Two such bodies may be in flight at once (many small ones), two
# reviews parsed at once (JSON parsing multiplies memory; see webhook.MAX_JSON_TOKENS).
WEBHOOK_MAX_BODY = 4 * MiB


def webhook_limits(per_second: float = 20.0, burst: int = 40) -> Limits:
    """The webhook's bounds. The rate is per client address: the API server's own pod
    creations (kube-controller-manager sends at most ~20/s by default) fit; a pod calling
    the webhook directly gets 429 after ``burst`` (see docs/security.md)."""
    return Limits(
        max_body=WEBHOOK_MAX_BODY,
        body_budget=2 * WEBHOOK_MAX_BODY,
        max_connections=64,
        max_handlers=2,
        rate=RateLimit(per_second=per_second, burst=burst) if per_second > 0 else None,
    )


@dataclass(frozen=True)
class InjectorServiceSettings:
    injector: InjectorSettings = field(default_factory=InjectorSettings)
    mesh_config_name: str = labels.MESH_CONFIG_NAME
    ca_bundle_secret_name: str = labels.CA_BUNDLE_SECRET_NAME
    webhook_config_name: str = ""  # empty: osm-webhook-<mesh>
    webhook_host: str = "0.0.0.0"
    webhook_port: int = labels.INJECTOR_PORT
    webhook_timeout_seconds: int = 20
    http_host: str = "0.0.0.0"
    http_port: int = labels.CONTROLLER_HTTP_PORT
    ca_wait_seconds: float = 120.0
    # The webhook's serving certificate, renewed at ``cert_renew_at`` of its life: an
    # expired one would make the API server refuse every pod of the mesh (failurePolicy Fail).
    cert_validity: dt.timedelta = WEBHOOK_CERT_VALIDITY
    cert_renew_at: float = 0.7
    # Register the MutatingWebhookConfiguration (off only for tests of the server alone).
    register: bool = True
    webhook_limits: Limits = field(default_factory=webhook_limits)

    @property
    def webhook_name(self) -> str:
        return self.webhook_config_name or f"osm-webhook-{self.injector.mesh_name}"


def webhook_dns_names(namespace: str) -> list[str]:
    base = labels.INJECTOR_NAME
    return [
        f"{base}.{namespace}.svc",
        f"{base}.{namespace}.svc.cluster.local",
        f"{base}.{namespace}",
        base,
    ]


class InjectorService:
    def __init__(self, kube: Any, settings: InjectorServiceSettings | None = None) -> None:
        self.kube = kube
        self.settings = settings or InjectorServiceSettings()
        self.metrics = Metrics()
        self.injector: Injector | None = None
        self.webhook: HttpServer | None = None
        self.webhook_config: dict[str, Any] | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._renewer: threading.Thread | None = None
        self._tls: ssl.SSLContext | None = None
        self.ca: CertificateAuthority | None = None
        self.serving_cert: IssuedCert | None = None
        self.metrics.read_from(self._metric_values)
        self.http = HttpServer(
            {
                ("GET", labels.CONTROLLER_READY_PATH): self._readiness,
                ("GET", labels.CONTROLLER_ALIVE_PATH): lambda _b: Reply.text("alive\n"),
                ("GET", labels.CONTROLLER_METRICS_PATH): self.metrics.reply,
                ("GET", labels.CONTROLLER_VERSION_PATH): self._version,
            },
            host=self.settings.http_host,
            port=self.settings.http_port,
            name="injector-http",
        )

    def _version(self, _body: bytes) -> Reply:
        from osm_mesh.controller.app import version_info

        return Reply.json(version_info())

    def _readiness(self, _body: bytes) -> Reply:
        if self._ready.is_set():
            return Reply.text("ok\n")
        return Reply.text("waiting for the mesh CA and the webhook server\n", 503)

    def _metric_values(self) -> list[tuple[str, str, str, float]]:
        c = self.injector.counters if self.injector is not None else None
        return [
            ("osm_injector_reviews", "AdmissionReviews answered", "counter", c.reviews if c else 0),
            ("osm_injector_injection", "Pods given a sidecar", "counter", c.injected if c else 0),
            ("osm_injector_refused", "Pods refused", "counter", c.refused if c else 0),
            ("osm_injector_errors", "Reviews that failed", "counter", c.errors if c else 0),
        ]

    @property
    def webhook_port(self) -> int:
        assert self.webhook is not None
        return self.webhook.port

    def start(self) -> InjectorService:
        s = self.settings
        namespace = s.injector.osm_namespace
        self.http.start()
        ca = wait_for_ca(self.kube, namespace, s.ca_bundle_secret_name, timeout=s.ca_wait_seconds)
        self.ca = ca
        cert = self.serving_cert = self._issue()
        self.injector = Injector(self.kube, ca, s.injector, mesh_config_name=s.mesh_config_name)
        self._tls = server_tls_context(cert.cert_pem, cert.key_pem)
        self.webhook = HttpServer(
            {("POST", labels.INJECTOR_WEBHOOK_PATH): self.injector.review},
            host=s.webhook_host,
            port=s.webhook_port,
            tls=self._tls,
            name="injector-webhook",
            limits=s.webhook_limits,
        ).start()
        self._renewer = threading.Thread(target=self._renew_loop, name="webhook-cert", daemon=True)
        self._renewer.start()
        self.webhook_config = webhook_configuration(
            name=s.webhook_name,
            mesh_name=s.injector.mesh_name,
            osm_namespace=namespace,
            ca_pem=ca.cert_pem,
            timeout_seconds=s.webhook_timeout_seconds,
            # The Service's port (it maps to whatever port this process listens on).
            port=labels.INJECTOR_PORT,
        )
        if s.register:
            how = ensure_webhook_configuration(self.kube, self.webhook_config)
            log.info("%s MutatingWebhookConfiguration %s", how, s.webhook_name)
        self._ready.set()
        return self

    def _issue(self) -> IssuedCert:
        namespace = self.settings.injector.osm_namespace
        assert self.ca is not None
        return self.ca.issue_for_names(
            common_name=f"{labels.INJECTOR_NAME}.{namespace}.svc",
            dns_names=webhook_dns_names(namespace),
            validity=self.settings.cert_validity,
        )

    def _renew_loop(self) -> None:
        s = self.settings
        issued = dt.datetime.now(dt.UTC)
        while True:
            # From the issue time, not notBefore (backdated for clock skew); never a busy loop.
            renew = issued + s.cert_validity * s.cert_renew_at
            wait = max((renew - dt.datetime.now(dt.UTC)).total_seconds(), 1.0)
            if self._stopping.wait(wait):
                return
            try:
                fresh = self._issue()
                assert self._tls is not None
                load_certificate(self._tls, fresh.cert_pem, fresh.key_pem)
                self.serving_cert, issued = fresh, dt.datetime.now(dt.UTC)
                log.info("renewed the webhook certificate (valid until %s)", fresh.not_after)
            except Exception as exc:  # keep serving the current one; try again shortly
                log.warning("renewing the webhook certificate failed: %s", exc)
                if self._stopping.wait(10.0):
                    return

    def stop(self) -> None:
        self._stopping.set()
        if self._renewer is not None:
            self._renewer.join(5)
        self._ready.clear()
        if self.webhook is not None:
            self.webhook.stop()
        self.http.stop()
