"""The Envoy bootstrap of an injected pod and the Secret that carries it.

The bootstrap is the data-plane helper's ADS bootstrap (``osm_mesh.envoy.bootstrap``) with:

- the ADS cluster resolving the controller's Service name by DNS, port 15128, mutual TLS
  with the pod's bootstrap certificate (it names this one proxy and opens ADS only; see
  ``osm_mesh.certs.bootstrap``) and the mesh CA as trust anchor for the controller;
- the admin interface on 127.0.0.1:15000 only (``osm proxy get`` reaches it by port-forward,
  which arrives on loopback; nothing in the cluster network can);
- a static listener on 0.0.0.0:15010 that serves only ``/stats/prometheus`` from the admin
  interface, for the ``prometheus.io/port: 15010`` scrape annotation;
- one plain-HTTP listener per rewritten kubelet probe (15901, ...; see ``probes``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from osm_mesh import labels
from osm_mesh.certs.ca import IssuedCert
from osm_mesh.envoy import names
from osm_mesh.envoy.bootstrap import (
    BootstrapTLS,
    bootstrap,
    client_cert_sds,
    loopback_cluster,
    node_id,
    path_listener,
)
from osm_mesh.injector.patch import (
    BOOTSTRAP_KEY,
    BOOTSTRAP_MOUNT,
    InjectorSettings,
    bootstrap_secret_name,
)
from osm_mesh.injector.probes import ProbeRoute, probe_resources

METRICS_LISTENER = "prometheus-listener"
# The bootstrap certificate, as a file-based SDS resource next to the bootstrap.
ADS_CERT_KEY = "ads-client-cert.json"
ADMIN_CLUSTER = "envoy-admin"


def pod_bootstrap(
    *,
    proxy_uuid: str,
    namespace: str,
    service_account: str,
    settings: InjectorSettings,
    ca_pem: bytes,
    admin_port: int = names.ADMIN_PORT,
    metrics_port: int = names.PROMETHEUS_PORT,
    probes: tuple[ProbeRoute, ...] = (),
) -> dict[str, Any]:
    """The bootstrap dict for one injected pod; ``ca_pem`` is the mesh CA that verifies the
    controller. Its ADS client certificate is read from ``ADS_CERT_KEY`` next to it (see
    :func:`bootstrap_files`), which the controller renews in place."""
    ads_host, ads_port = settings.ads_address
    config = bootstrap(
        node_id=node_id(proxy_uuid, service_account, namespace, settings.trust_domain),
        cluster=f"{service_account}.{namespace}",
        ads_host=ads_host,
        ads_port=ads_port,
        tls=BootstrapTLS(ca_pem=ca_pem, cert_sds_file=f"{BOOTSTRAP_MOUNT}/{ADS_CERT_KEY}"),
        admin_host="127.0.0.1",
        admin_port=admin_port,
        controller_san=settings.controller_host,
        ads_dns=True,
    )
    static = config["static_resources"]
    static["clusters"].append(loopback_cluster(ADMIN_CLUSTER, admin_port))
    static["listeners"] = [
        path_listener(
            name=METRICS_LISTENER,
            port=metrics_port,
            stat_prefix="prometheus",
            route_name="prometheus",
            vhost_name="prometheus",
            path=labels.ENVOY_PROMETHEUS_PATH,
            cluster=ADMIN_CLUSTER,
        )
    ]
    probe_listeners, probe_clusters = probe_resources(probes)
    static["listeners"].extend(probe_listeners)
    static["clusters"].extend(probe_clusters)
    return config


def bootstrap_secret(
    *,
    proxy_uuid: str,
    namespace: str,
    settings: InjectorSettings,
    config: dict[str, Any],
    cert: IssuedCert,
    owner_references: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Secret ``envoy-bootstrap-config-<uuid>`` in the pod's namespace: :func:`bootstrap_files`.

    ``owner_references`` (see :func:`controller_owner`) let the garbage collector delete the
    Secret with the pod's ReplicaSet/Job/... until the controller makes the pod its owner.
    """
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": bootstrap_secret_name(proxy_uuid),
            "namespace": namespace,
            "labels": {
                labels.PROXY_UUID_LABEL: proxy_uuid,
                labels.K8S_APP_NAME_LABEL: labels.K8S_APP_NAME_VALUE,
                labels.K8S_APP_INSTANCE_LABEL: settings.mesh_name,
            },
        },
        "data": {
            key: base64.b64encode(text.encode()).decode()
            for key, text in bootstrap_files(config, cert).items()
        },
    }
    if owner_references:
        secret["metadata"]["ownerReferences"] = owner_references
    return secret


def bootstrap_files(config: dict[str, Any], cert: IssuedCert) -> dict[str, str]:
    """What the Envoy container finds in its bootstrap volume: ``bootstrap.yaml`` (JSON is
    YAML, so the key keeps upstream's name while the content stays exact) and the bootstrap
    certificate as a file-based SDS resource (``ADS_CERT_KEY``)."""
    return {
        BOOTSTRAP_KEY: json.dumps(config, indent=2, sort_keys=True),
        ADS_CERT_KEY: ads_cert_text(cert),
    }


def ads_cert_text(cert: IssuedCert) -> str:
    """The ``ADS_CERT_KEY`` file for ``cert`` (also what the controller writes to renew it)."""
    return json.dumps(client_cert_sds(cert.cert_pem, cert.key_pem), indent=2)


def controller_owner(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's managing controller as an owner reference for objects made at admission.

    At admission the pod has no UID, so it cannot own its bootstrap Secret yet (the controller
    adopts it later when allowed to patch Secrets); its ReplicaSet, StatefulSet, Job... has one.
    Without ``blockOwnerDeletion`` no extra RBAC is needed. Bare pods get no owner.
    """
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") and ref.get("name") and ref.get("kind"):
            return [
                {
                    "apiVersion": str(ref.get("apiVersion", "")),
                    "kind": str(ref["kind"]),
                    "name": str(ref["name"]),
                    "uid": str(ref["uid"]),
                }
            ]
    return []
