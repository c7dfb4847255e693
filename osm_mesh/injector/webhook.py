"""The admission webhook: AdmissionReview v1 in, JSONPatch out, over HTTPS.

``Injector.review(body)`` turns one AdmissionReview request into its response:

1. read the pod's Namespace and the MeshConfig (cached a few seconds: a Deployment scaling
   up sends many pods at once);
2. ``patch.decide``; pods that get no sidecar are allowed unchanged, pods with an unusable
   injection annotation are refused with a one-line reason;
3. for an injected pod: a new proxy UUID, a client certificate for its ServiceAccount, the
   bootstrap Secret ``envoy-bootstrap-config-<uuid>`` created in the pod's namespace (not on
   dry runs: the webhook is registered ``sideEffects: NoneOnDryRun``), and the patch.

``ensure_webhook_configuration`` registers MutatingWebhookConfiguration
``osm-webhook-<mesh>`` with the CA bundle that verifies this server's certificate.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from osm_mesh import labels
from osm_mesh.certs.bootstrap import DEFAULT_VALIDITY as BOOTSTRAP_VALIDITY
from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.certs.ca import CertificateAuthority
from osm_mesh.controller.http import Reply
from osm_mesh.envoy.bootstrap import node_id
from osm_mesh.injector.bootstrap import bootstrap_secret, controller_owner, pod_bootstrap
from osm_mesh.injector.patch import (
    InjectorSettings,
    decide,
    injection_patch,
    pod_label,
    service_account_of,
)
from osm_mesh.injector.probes import probe_plan
from osm_mesh.smi.meshconfig import parse_mesh_config
from osm_mesh.smi.model import MeshConfig

log = logging.getLogger("osm_mesh.injector")

ADMISSION_API_VERSION = "admission.k8s.io/v1"
WEBHOOK_NAME = "osm-inject.openservicemesh.io"
# Bootstrap certificates only authenticate one proxy to ADS (the data-plane certificates come
# over SDS and rotate); short-lived, as the control plane's (osm_mesh.certs.bootstrap).
BOOTSTRAP_CERT_VALIDITY = BOOTSTRAP_VALIDITY
CONFIG_TTL_S = 5.0
# Parsed JSON costs up to ~80 bytes per value whatever the body's size: a 4 MiB body of
# ``[{},{},...]`` becomes ~100 MiB of dicts. The structural characters ``{[,:`` bound the
# number of values from above and are counted before parsing. A pod's review has a few
# hundred; 100,000 keeps one parse under ~8 MiB.
MAX_JSON_TOKENS = 100_000


def json_tokens(body: bytes) -> int:
    """An upper bound on the JSON values (and keys) in ``body``, without parsing it."""
    return sum(body.count(c) for c in (b"{", b"[", b",", b":"))


@dataclass
class Counters:
    reviews: int = 0
    injected: int = 0
    refused: int = 0
    errors: int = 0


class Injector:
    """Admission decisions for one mesh. ``kube``: an ``osm_mesh.kube.client.Kube``."""

    def __init__(
        self,
        kube: Any,
        ca: CertificateAuthority,
        settings: InjectorSettings,
        *,
        mesh_config_name: str = labels.MESH_CONFIG_NAME,
        uuid_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.kube = kube
        self.ca = ca
        self.bootstrap_ca = bootstrap_authority(ca)
        self.settings = settings
        self.mesh_config_name = mesh_config_name
        self.uuid_factory = uuid_factory
        self.counters = Counters()
        self._lock = threading.Lock()
        self._config: tuple[float, MeshConfig | None] | None = None

    # -- cluster reads ---------------------------------------------------------------
    def _get_json(self, call: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = call(*args, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)
        return data

    def mesh_config(self) -> MeshConfig | None:
        now = time.monotonic()
        with self._lock:
            if self._config is not None and now - self._config[0] < CONFIG_TTL_S:
                return self._config[1]
        from osm_mesh.catalog.kube import mesh_config_object

        try:
            obj = mesh_config_object(self.kube, self.settings.osm_namespace)
        except Exception as exc:
            # A flaky API server must not stop pod creation (failurePolicy Fail): keep
            # injecting with the last MeshConfig read, if there is one.
            with self._lock:
                if self._config is None:
                    raise
                log.warning("reading the MeshConfig failed (%s); using the last one read", exc)
                self._config = (now, self._config[1])
                return self._config[1]
        config = None
        if obj is not None:
            config, problems = parse_mesh_config(obj)
            for problem in problems:
                log.warning("MeshConfig: %s: %s", problem.field, problem.message)
        with self._lock:
            self._config = (now, config)
        return config

    def effective_settings(self) -> InjectorSettings:
        return self.settings.with_mesh_config(self.mesh_config())

    # -- admission ---------------------------------------------------------------------
    def admit(self, request: dict[str, Any]) -> dict[str, Any]:
        """One AdmissionRequest -> its AdmissionResponse (``uid`` echoed)."""
        uid = str(request.get("uid") or "")
        self.counters.reviews += 1

        def allow(message: str) -> dict[str, Any]:
            log.debug("%s: %s", uid, message)
            return {"uid": uid, "allowed": True}

        def refuse(message: str, code: int = 400) -> dict[str, Any]:
            self.counters.refused += 1
            log.info("refused pod: %s", message)
            return {"uid": uid, "allowed": False, "status": {"code": code, "message": message}}

        kind = (request.get("kind") or {}).get("kind")
        if kind != "Pod" or request.get("operation") != "CREATE":
            return allow(f"not a pod creation ({kind} {request.get('operation')})")
        pod = request.get("object")
        if not isinstance(pod, dict):
            return refuse("the AdmissionReview carries no pod object")
        ns_name = str(
            request.get("namespace") or (pod.get("metadata") or {}).get("namespace") or "default"
        )
        namespace = self._get_json(self.kube.core.read_namespace, ns_name)
        if namespace is None:
            return allow(f"namespace {ns_name} not found")
        settings = self.effective_settings()
        decision = decide(pod, namespace, settings)
        if decision.error:
            return refuse(f"pod {pod_label(pod)} in namespace {ns_name}: {decision.error}")
        if not decision.inject:
            return allow(decision.reason)
        # Only the API server should call this webhook, and it admits no pod whose
        # ServiceAccount is missing. A direct caller could otherwise have a bootstrap key
        # minted for any name it likes (docs/security.md).
        service_account = service_account_of(pod)
        if (
            self._get_json(self.kube.core.read_namespaced_service_account, service_account, ns_name)
            is None
        ):
            return refuse(
                f"pod {pod_label(pod)} in namespace {ns_name}: ServiceAccount "
                f"{service_account!r} does not exist",
                403,
            )
        proxy_uuid = self.uuid_factory()
        try:
            patch = injection_patch(pod, namespace, settings, proxy_uuid)
        except ValueError as exc:
            return refuse(f"pod {pod_label(pod)} in namespace {ns_name}: {exc}")
        if not request.get("dryRun"):
            self._create_bootstrap(pod, ns_name, settings, proxy_uuid)
        self.counters.injected += 1
        log.info("injecting sidecar %s into pod %s/%s", proxy_uuid, ns_name, pod_label(pod))
        return {
            "uid": uid,
            "allowed": True,
            "patchType": "JSONPatch",
            "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
        }

    def _create_bootstrap(
        self, pod: dict[str, Any], namespace: str, settings: InjectorSettings, proxy_uuid: str
    ) -> None:
        service_account = service_account_of(pod)
        node = node_id(proxy_uuid, service_account, namespace, settings.trust_domain)
        cert = issue_bootstrap(self.bootstrap_ca, node, validity=BOOTSTRAP_CERT_VALIDITY)
        config = pod_bootstrap(
            proxy_uuid=proxy_uuid,
            namespace=namespace,
            service_account=service_account,
            settings=settings,
            ca_pem=self.ca.cert_pem,
            probes=probe_plan(pod),
        )
        secret = bootstrap_secret(
            proxy_uuid=proxy_uuid,
            namespace=namespace,
            settings=settings,
            config=config,
            cert=cert,
            owner_references=controller_owner(pod),
        )
        self.kube.core.create_namespaced_secret(namespace, secret)

    def review(self, body: bytes) -> Reply:
        """The HTTP side: parse an AdmissionReview, answer one (or 400 for garbage)."""
        if json_tokens(body) > MAX_JSON_TOKENS:
            return Reply.text(f"the body has more than {MAX_JSON_TOKENS} JSON values\n", 413)
        try:
            review = json.loads(body)
        except ValueError:
            return Reply.text("the body is not JSON\n", 400)
        if (
            not isinstance(review, dict)
            or review.get("kind") != "AdmissionReview"
            or not isinstance(review.get("request"), dict)
        ):
            return Reply.text("expected an AdmissionReview with a request\n", 400)
        if review.get("apiVersion") != ADMISSION_API_VERSION:
            return Reply.text(f"only {ADMISSION_API_VERSION} AdmissionReviews are served\n", 400)
        request = review["request"]
        try:
            response = self.admit(request)
        except Exception as exc:
            # failurePolicy Fail: the API server refuses the pod and shows this message.
            self.counters.errors += 1
            log.exception("admission failed")
            response = {
                "uid": str(request.get("uid") or ""),
                "allowed": False,
                "status": {"code": 500, "message": f"osm-injector: {_short(exc)}"},
            }
        return Reply.json(
            {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
        )


def _short(exc: Exception) -> str:
    """API and transport errors as the API server's own one-liner; anything else by type."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    from osm_mesh.kube.errors import translate

    if isinstance(exc, ApiException | urllib3.exceptions.HTTPError):
        return translate(exc).message
    return f"{type(exc).__name__}: {exc}"


def webhook_configuration(
    *,
    name: str,
    mesh_name: str,
    osm_namespace: str,
    ca_pem: bytes,
    timeout_seconds: int = 20,
    service: str = labels.INJECTOR_NAME,
    port: int = labels.INJECTOR_PORT,
    path: str = labels.INJECTOR_WEBHOOK_PATH,
) -> dict[str, Any]:
    """MutatingWebhookConfiguration ``osm-webhook-<mesh>`` (namespaceSelector as upstream)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {
            "name": name,
            "labels": {
                labels.K8S_APP_NAME_LABEL: labels.K8S_APP_NAME_VALUE,
                labels.K8S_APP_INSTANCE_LABEL: mesh_name,
                labels.APP_LABEL: labels.INJECTOR_NAME,
            },
        },
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "clientConfig": {
                    "service": {
                        "name": service,
                        "namespace": osm_namespace,
                        "path": path,
                        "port": port,
                    },
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {
                    "matchLabels": {labels.MONITORED_BY_LABEL: mesh_name},
                    "matchExpressions": [
                        {"key": labels.IGNORE_LABEL, "operator": "DoesNotExist"},
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": [osm_namespace],
                        },
                        {"key": "control-plane", "operator": "DoesNotExist"},
                    ],
                },
                "failurePolicy": "Fail",
                "sideEffects": "NoneOnDryRun",
                "matchPolicy": "Equivalent",
                "reinvocationPolicy": "Never",
                "timeoutSeconds": timeout_seconds,
            }
        ],
    }


def ensure_webhook_configuration(kube: Any, config: dict[str, Any]) -> str:
    """Create or replace the configuration; returns "created" or "updated"."""
    from kubernetes.client.exceptions import ApiException

    api = kube.admission
    name = config["metadata"]["name"]
    try:
        current = api.read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        try:
            api.create_mutating_webhook_configuration(config)
            return "created"
        except ApiException as create_exc:
            if create_exc.status != 409:  # another replica won the race: update below
                raise
            current = api.read_mutating_webhook_configuration(name)
    body = json.loads(json.dumps(config))
    body["metadata"]["resourceVersion"] = current.metadata.resource_version
    api.replace_mutating_webhook_configuration(name, body)
    return "updated"
