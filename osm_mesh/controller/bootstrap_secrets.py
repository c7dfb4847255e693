"""The controller keeps each injected pod's bootstrap Secret: owned by the pod, and its
bootstrap certificate renewed before it expires.

**Owned by the pod.** The injector creates ``envoy-bootstrap-config-<uuid>`` at admission,
before the pod has a UID (an owner reference needs one), so it names the pod's ReplicaSet/Job
as owner. Once the pod appears, one merge patch makes the pod the Secret's only owner (with
several owners, the garbage collector waits for all of them), so Kubernetes deletes the Secret,
and the key in it, with the pod.

**Renewed.** A bootstrap certificate lasts 24 h (``osm_mesh.certs.bootstrap``). Once half of it
has passed, the controller issues the pod's proxy a new one and patches it into the Secret
(``ADS_CERT_KEY``); the kubelet updates the mounted file and Envoy re-reads it (file-based
SDS), so the proxy can reconnect to ADS for as long as its pod lives, and a copy of the Secret
taken today opens nothing tomorrow. A pod that finished (Succeeded/Failed: a Job's pod, kept
until someone deletes it) runs no proxy: its certificate is not renewed.

Both are ``patch`` on the Secret, and the answer to a patch carries the Secret, so the
controller learns each certificate's expiry without reading Secrets. The chart grants ``patch``
per namespace, not cluster-wide: ClusterRole ``<mesh>-osm-bootstrap-secrets``, bound in each
meshed namespace by the RoleBinding ``osm namespace add`` creates. Where it is missing the
namespace is reported (log line) and retried every few minutes; until then its Secrets follow
their ReplicaSet and its proxies cannot reconnect once their first certificate has expired.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from osm_mesh import labels
from osm_mesh.catalog.build import is_finished_pod
from osm_mesh.certs.bootstrap import (
    DEFAULT_VALIDITY,
    bootstrap_authority,
    certificate_node_id,
    issue_bootstrap,
)
from osm_mesh.certs.ca import CertificateAuthority
from osm_mesh.controller.worker import CatalogWorker
from osm_mesh.envoy.bootstrap import node_id
from osm_mesh.injector.bootstrap import ADS_CERT_KEY, ads_cert_text
from osm_mesh.injector.patch import bootstrap_secret_name

log = logging.getLogger("osm_mesh.controller.bootstrap_secrets")

MERGE_PATCH = "application/merge-patch+json"  # replaces lists: the pod becomes the only owner
RENEW_AFTER = 0.5  # fraction of a certificate's validity
FORBIDDEN_RETRY_S = 300.0


def owner_patch(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {
        "metadata": {
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
            ]
        }
    }


def renewal_time(cert_pem: bytes) -> dt.datetime:
    cert = x509.load_pem_x509_certificate(cert_pem)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * RENEW_AFTER


def secret_certificate(data: dict[str, str] | None) -> bytes | None:
    """The bootstrap certificate (PEM) in a Secret's ``data``; None in the old layout."""
    encoded = (data or {}).get(ADS_CERT_KEY)
    if not encoded:
        return None
    try:
        (resource,) = json.loads(base64.b64decode(encoded))["resources"]
        return str(resource["tls_certificate"]["certificate_chain"]["inline_string"]).encode()
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class _Kept:
    namespace: str
    secret: str
    node_id: str
    renew_at: dt.datetime | None  # None: nothing to renew (no Secret, or the old layout)


class BootstrapSecretKeeper(CatalogWorker):
    """``BootstrapSecretKeeper(kube, source, ca, trust_domain=...).start()``; ``source`` is a
    ``KubeSource``, ``ca`` the mesh CA (the bootstrap CA is derived from it)."""

    thread_name = "bootstrap-secrets"
    work = "keeping bootstrap Secrets"
    logger = log

    def __init__(
        self,
        kube: Any,
        source: Any,
        ca: CertificateAuthority,
        *,
        trust_domain: str,
        validity: dt.timedelta = DEFAULT_VALIDITY,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(source)
        self.kube = kube
        self.bootstrap_ca = bootstrap_authority(ca)
        self.trust_domain = trust_domain
        self.validity = validity
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._kept: dict[str, _Kept] = {}  # pod UID → its Secret
        # Namespace where patching Secrets is forbidden → when to try again (monotonic).
        self.forbidden: dict[str, float] = {}
        self.adopted = 0
        self.renewed = 0

    def _run_pass(self) -> int:
        return self.keep_all()

    def _next_pass_in(self) -> float | None:
        now, mono = self._clock(), time.monotonic()
        due = [(k.renew_at - now).total_seconds() for k in self._kept.values() if k.renew_at]
        due += [retry - mono for retry in self.forbidden.values()]
        return min(max(min(due), 1.0), 3600.0) if due else None

    def keep_all(self) -> int:
        """Adopt new pods' Secrets and renew due certificates; returns how many patches."""
        from kubernetes.client.exceptions import ApiException

        patches = 0
        present = set()
        mono = time.monotonic()
        for pod in self.source.raw("Pod"):
            meta = pod.get("metadata") or {}
            uid, namespace = meta.get("uid"), meta.get("namespace")
            proxy_uuid = (meta.get("labels") or {}).get(labels.PROXY_UUID_LABEL)
            if not uid or not namespace or not proxy_uuid or meta.get("deletionTimestamp"):
                continue
            present.add(uid)
            if self.forbidden.get(namespace, 0.0) > mono:
                continue
            try:
                kept = self._kept.get(uid)
                if kept is None:
                    kept = self._adopt(pod, namespace, proxy_uuid)
                    self._kept[uid] = kept
                    patches += 1
                if is_finished_pod(pod):
                    # Its proxy is gone for good: the certificate is left to expire (ADS
                    # refuses it already; the Secret goes with the pod).
                    kept.renew_at = None
                elif kept.renew_at is not None and self._clock() >= kept.renew_at:
                    self._renew(kept)
                    patches += 1
            except ApiException as exc:
                if exc.status == 403:
                    self._forbid(namespace, exc.reason)
                    continue
                if exc.status != 404:
                    raise
                # No such Secret: a pod this mesh's injector did not inject. Not asked again.
                self._kept[uid] = _Kept(namespace, "", "", None)
                continue
            self.forbidden.pop(namespace, None)
        for uid in self._kept.keys() - present:  # pods that are gone (with their Secrets)
            del self._kept[uid]
        return patches

    def _adopt(self, pod: dict[str, Any], namespace: str, proxy_uuid: str) -> _Kept:
        spec = pod.get("spec") or {}
        service_account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        kept = _Kept(
            namespace,
            bootstrap_secret_name(proxy_uuid),
            node_id(proxy_uuid, service_account, namespace, self.trust_domain),
            None,
        )
        answer = self.kube.core.patch_namespaced_secret(
            kept.secret, namespace, owner_patch(pod), _content_type=MERGE_PATCH
        )
        self.adopted += 1
        cert = secret_certificate(getattr(answer, "data", None))
        if cert is None:
            log.info("%s/%s holds no renewable bootstrap certificate", namespace, kept.secret)
        elif certificate_node_id(cert) != kept.node_id:
            log.warning("%s/%s: its certificate is for another proxy", namespace, kept.secret)
        else:
            kept.renew_at = renewal_time(cert)
        return kept

    def _renew(self, kept: _Kept) -> None:
        cert = issue_bootstrap(
            self.bootstrap_ca, kept.node_id, validity=self.validity, now=self._clock()
        )
        data = {ADS_CERT_KEY: base64.b64encode(ads_cert_text(cert).encode()).decode()}
        self.kube.core.patch_namespaced_secret(
            kept.secret, kept.namespace, {"data": data}, _content_type=MERGE_PATCH
        )
        kept.renew_at = renewal_time(cert.cert_pem)
        self.renewed += 1
        log.info("renewed the bootstrap certificate in %s/%s", kept.namespace, kept.secret)

    def _forbid(self, namespace: str, reason: str | None) -> None:
        if namespace not in self.forbidden:
            log.warning(
                "cannot patch Secrets in namespace %s (%s): its bootstrap Secrets outlive their "
                "pods and their certificates are not renewed; bind ClusterRole "
                "<mesh>-osm-bootstrap-secrets there (osm namespace add %s does)",
                namespace,
                reason,
                namespace,
            )
        self.forbidden[namespace] = time.monotonic() + FORBIDDEN_RETRY_S
