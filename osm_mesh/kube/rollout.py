"""`kubectl rollout restart` for every workload of a namespace.

Adding a namespace to the mesh only affects pods created afterwards (osm#281); restarting
the namespace's Deployments, StatefulSets and DaemonSets recreates their pods so the
injector gives them sidecars. The restart is what kubectl does: a strategic-merge patch of
the pod template annotation ``kubectl.kubernetes.io/restartedAt``, which changes the
template and so makes the controller roll the pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from osm_mesh.kube.client import Kube
from osm_mesh.kube.meshes import name_of
from osm_mesh.labels import RESTARTED_AT_ANNOTATION

STRATEGIC_MERGE = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class RestartedWorkload:
    kind: str  # "deployment" | "statefulset" | "daemonset", kubectl's resource spelling
    name: str
    # Paused Deployments are left alone, as kubectl refuses to restart them.
    skipped: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def restart_patch(now: datetime) -> dict[str, Any]:
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}


def restart_workloads(
    kube: Kube, namespace: str, now: datetime | None = None
) -> list[RestartedWorkload]:
    """Restart every Deployment, StatefulSet and DaemonSet in ``namespace``; sorted result."""
    patch = restart_patch(now or datetime.now(UTC))
    apps = kube.apps
    kinds = (
        ("daemonset", apps.list_namespaced_daemon_set, apps.patch_namespaced_daemon_set),
        ("deployment", apps.list_namespaced_deployment, apps.patch_namespaced_deployment),
        ("statefulset", apps.list_namespaced_stateful_set, apps.patch_namespaced_stateful_set),
    )
    done: list[RestartedWorkload] = []
    for kind, list_fn, patch_fn in kinds:
        items: list[Any] = list(list_fn(namespace).items or [])
        for item in sorted(items, key=name_of):
            name = name_of(item)
            if kind == "deployment" and item.spec is not None and item.spec.paused:
                done.append(RestartedWorkload(kind, name, skipped="paused"))
                continue
            patch_fn(name, namespace, patch, _content_type=STRATEGIC_MERGE)
            done.append(RestartedWorkload(kind, name))
    return done
