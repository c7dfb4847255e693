"""Bootstrap Secrets follow their pods: the controller makes each injected pod the owner of
its ``envoy-bootstrap-config-<uuid>`` Secret, so Kubernetes deletes the Secret with the pod.

The injector cannot do this itself: at admission the pod has no UID yet, and an owner
reference needs one. The controller already watches pods; once a pod labelled
``osm-proxy-uuid`` appears with its UID, one merge patch adds the reference. Without RBAC
to patch Secrets it says so once and stops trying (the Secrets then outlive their pods).
"""

from __future__ import annotations

import logging
from typing import Any

from osm_mesh import labels
from osm_mesh.controller.worker import CatalogWorker
from osm_mesh.injector.patch import bootstrap_secret_name

log = logging.getLogger("osm_mesh.controller.adopt")


def owner_patch(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {
        "metadata": {
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
            ]
        }
    }


class BootstrapSecretAdopter(CatalogWorker):
    """``BootstrapSecretAdopter(kube, source).start()``; ``source`` is a ``KubeSource``."""

    thread_name = "secret-adopter"
    work = "adopting bootstrap Secrets"
    logger = log

    def __init__(self, kube: Any, source: Any) -> None:
        super().__init__(source)
        self.kube = kube
        self.adopted = 0
        self.forbidden = False
        self._done: set[str] = set()

    def _halted(self) -> bool:
        return self.forbidden

    def _run_pass(self) -> int:
        return self.adopt_all()

    def adopt_all(self) -> int:
        """Adopt the Secret of every injected pod not handled yet; returns how many."""
        from kubernetes.client.exceptions import ApiException

        count = 0
        pods = self.source.raw("Pod")
        present = set()
        for pod in pods:
            meta = pod.get("metadata") or {}
            uid, proxy_uuid = (
                meta.get("uid"),
                (meta.get("labels") or {}).get(labels.PROXY_UUID_LABEL),
            )
            if not uid or not proxy_uuid:
                continue
            present.add(uid)
            if uid in self._done or meta.get("deletionTimestamp"):
                continue
            try:
                self.kube.core.patch_namespaced_secret(
                    bootstrap_secret_name(proxy_uuid), meta.get("namespace"), owner_patch(pod)
                )
                count += 1
            except ApiException as exc:
                if exc.status == 403:
                    self.forbidden = True
                    log.warning(
                        "cannot patch Secrets (%s); bootstrap Secrets will outlive their pods: "
                        "grant osm-controller 'patch' on secrets",
                        exc.reason,
                    )
                    return count
                if exc.status != 404:  # 404: not injected by this mesh's injector
                    raise
            self._done.add(uid)
        self._done &= present  # forget pods that are gone
        self.adopted += count
        return count
