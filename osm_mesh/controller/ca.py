"""The mesh CA in a cluster: Secret ``osm-ca-bundle`` (keys ``ca.crt``, ``private.key``).

The controller calls ``ensure_ca``: read the Secret; when it is missing, create a CA (or
restore the one in ``--ca-bundle-dir`` when a mounted copy exists) and store it. Two
controller replicas starting together race on the create: the loser (409) reads the winner's
Secret, so the mesh always ends with exactly one CA. The injector only reads (``wait_for_ca``):
its RBAC has no create on Secrets.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from osm_mesh import labels
from osm_mesh.certs.ca import CA_CERT_KEY, CA_KEY_KEY, CertificateAuthority
from osm_mesh.errors import Timeout

log = logging.getLogger("osm_mesh.controller.ca")


def _read(kube: Any, namespace: str, name: str) -> CertificateAuthority | None:
    from kubernetes.client.exceptions import ApiException

    try:
        secret = kube.core.read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return CertificateAuthority.from_secret_data(secret.data or {})


def ca_secret(ca: CertificateAuthority, namespace: str, name: str, mesh_name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            # Selected by the uninstall cleanup, like the other control-plane objects.
            "labels": {
                labels.K8S_APP_NAME_LABEL: labels.K8S_APP_NAME_VALUE,
                labels.K8S_APP_INSTANCE_LABEL: mesh_name,
                labels.APP_LABEL: labels.CONTROLLER_APP_LABEL_VALUE,
            },
        },
        "data": ca.to_secret_data(),
    }


def ensure_ca(
    kube: Any,
    namespace: str,
    name: str = labels.CA_BUNDLE_SECRET_NAME,
    *,
    mesh_name: str = labels.DEFAULT_MESH_NAME,
    ca_dir: str | Path | None = None,
) -> tuple[CertificateAuthority, str]:
    """The mesh CA and how it was obtained: "loaded", "created" or "restored"."""
    from kubernetes.client.exceptions import ApiException

    existing = _read(kube, namespace, name)
    if existing is not None:
        return existing, "loaded"
    how = "created"
    directory = Path(ca_dir) if ca_dir else None
    if directory and (directory / CA_CERT_KEY).exists() and (directory / CA_KEY_KEY).exists():
        ca = CertificateAuthority.load(directory)
        how = "restored"
    else:
        ca = CertificateAuthority.create()
    try:
        kube.core.create_namespaced_secret(namespace, ca_secret(ca, namespace, name, mesh_name))
    except ApiException as exc:
        if exc.status != 409:
            raise
        winner = _read(kube, namespace, name)
        if winner is None:
            raise
        log.info("another controller created Secret %s/%s first; using its CA", namespace, name)
        return winner, "loaded"
    log.info("%s the mesh CA in Secret %s/%s", how, namespace, name)
    return ca, how


def wait_for_ca(
    kube: Any,
    namespace: str,
    name: str = labels.CA_BUNDLE_SECRET_NAME,
    *,
    timeout: float = 120.0,
    interval: float = 1.0,
) -> CertificateAuthority:
    """Poll until the controller has stored the CA (the injector starts alongside it)."""
    deadline = time.monotonic() + timeout
    while True:
        ca = _read(kube, namespace, name)
        if ca is not None:
            return ca
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(
                f"Secret {namespace}/{name} with the mesh CA did not appear in {timeout:g}s",
                hint="check that osm-controller is running: it creates the CA",
            )
        time.sleep(min(interval, remaining))
