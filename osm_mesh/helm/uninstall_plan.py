"""`osm uninstall mesh --dry-run`: what an uninstall with the same flags would delete and keep.

Read-only: the Helm release's manifest (``helm status``), the cluster-wide leftovers that
``-a`` removes, the control-plane namespace, and the meshed pods whose Envoy sidecars outlive
the control plane (they keep their last configuration and certificates until restarted).
The same target selection as the real uninstall (``select_targets``) decides which meshes
are meant, so a dry run refuses exactly what the real run would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from osm_mesh import labels
from osm_mesh.helm.client import HelmClient, parse_manifests
from osm_mesh.helm.lifecycle import validate_mesh_name, validate_namespace
from osm_mesh.helm.location import crd_names, load_chart
from osm_mesh.helm.uninstall import LEFTOVERS, MeshRef, UninstallOptions, select_targets

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

Action = Literal["delete", "keep"]

# Kinds without a namespace (what a chart like ours can hold); everything else defaults to
# the release namespace, as Helm does.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "APIService",
    }
)
KEEP_POLICY_ANNOTATION = "helm.sh/resource-policy"


@dataclass(frozen=True, order=True)
class PlannedObject:
    action: Action
    kind: str
    namespace: str
    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {
            "action": self.action,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "reason": self.reason,
        }


@dataclass(frozen=True, order=True)
class StayingSidecar:
    """A running meshed pod: its Envoy keeps serving its last configuration after uninstall."""

    namespace: str
    pod: str
    mesh: str
    phase: str

    def as_dict(self) -> dict[str, str]:
        return {
            "namespace": self.namespace,
            "pod": self.pod,
            "mesh": self.mesh,
            "phase": self.phase,
        }


@dataclass
class UninstallPlan:
    namespace: str
    meshes: list[MeshRef] = field(default_factory=list)
    objects: list[PlannedObject] = field(default_factory=list)
    sidecars: list[StayingSidecar] = field(default_factory=list)
    nothing_to_do: bool = False

    def deletes(self) -> list[PlannedObject]:
        return [o for o in self.objects if o.action == "delete"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": True,
            "namespace": self.namespace,
            "meshes": [
                {"name": m.name, "namespace": m.namespace, "version": m.version, "source": m.source}
                for m in self.meshes
            ],
            "objects": [o.as_dict() for o in self.objects],
            "sidecars": [s.as_dict() for s in self.sidecars],
        }


async def plan_uninstall(kube: Kube, helm: HelmClient, options: UninstallOptions) -> UninstallPlan:
    """Everything ``uninstall(options)`` would delete (and notably keep); changes nothing."""
    if options.mesh_name is not None:
        validate_mesh_name(options.mesh_name)
    validate_namespace(options.namespace)
    chart = load_chart(options.chart_path)
    await helm.check()
    selection = await select_targets(
        kube, helm, options, chart if options.delete_cluster_wide else None
    )
    plan = UninstallPlan(options.namespace, meshes=list(selection.targets))
    if selection.nothing_to_do:
        plan.nothing_to_do = True
        return plan
    objects: set[PlannedObject] = set()
    for mesh in selection.targets:
        if mesh.source != LEFTOVERS:
            objects |= await _release_objects(kube, helm, mesh)
    objects |= _cluster_wide(kube, options, selection, crd_names(chart))
    if options.delete_namespace:
        objects.add(
            PlannedObject(
                "delete",
                "Namespace",
                "",
                options.namespace,
                "--delete-namespace (with everything still in it)",
            )
        )
    plan.objects = sorted(objects, key=lambda o: (o.action, o.kind, o.namespace, o.name))
    plan.sidecars = staying_sidecars(kube, {m.name for m in selection.targets})
    return plan


async def _release_objects(kube: Kube, helm: HelmClient, mesh: MeshRef) -> set[PlannedObject]:
    from osm_mesh.kube.meshes import name_of

    release = await helm.status(mesh.name, mesh.namespace)
    found: set[PlannedObject] = set()
    if release is None:
        return found
    why = f"Helm release {mesh.name}"
    for doc in parse_manifests(release.manifest):
        meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
        kind, name = str(doc.get("kind") or ""), str(meta.get("name") or "")
        if not kind or not name:
            continue
        namespace = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or mesh.namespace)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and annotations.get(KEEP_POLICY_ANNOTATION) == "keep":
            found.add(PlannedObject("keep", kind, namespace, name, f"{why}, resource-policy keep"))
        else:
            found.add(PlannedObject("delete", kind, namespace, name, why))
    # Helm's own record of the release (one Secret per revision) goes with it.
    history = kube.core.list_namespaced_secret(
        mesh.namespace, label_selector=f"owner=helm,name={mesh.name}"
    )
    secret: Any
    for secret in history.items or []:
        found.add(
            PlannedObject("delete", "Secret", mesh.namespace, name_of(secret), f"{why} history")
        )
    return found


def _cluster_wide(
    kube: Kube, options: UninstallOptions, selection: Any, crds: list[str]
) -> set[PlannedObject]:
    from osm_mesh.kube.uninstall import leftover_objects

    targets = selection.targets
    others = [
        m.name for m in selection.found if m not in targets and m.name != selection.mesh_for_cleanup
    ]
    found: set[PlannedObject] = set()
    for mesh_name in sorted({m.name for m in targets} or {selection.mesh_for_cleanup}):
        for kind, namespace, name in leftover_objects(
            kube, mesh_name, options.namespace, options.ca_bundle_secret_name, crds
        ):
            if kind == "CustomResourceDefinition" and others:
                reason = "still used by mesh " + ", ".join(f"[{m}]" for m in sorted(others))
                found.add(PlannedObject("keep", kind, namespace, name, reason))
            elif options.delete_cluster_wide:
                found.add(PlannedObject("delete", kind, namespace, name, "-a"))
            else:
                reason = {
                    "CustomResourceDefinition": "kept without -a (holds your policies)",
                    "Secret": "kept without -a (the mesh CA: a reinstall keeps trusting proxies)",
                }.get(kind, "kept without -a (refuses new pods in meshed namespaces)")
                found.add(PlannedObject("keep", kind, namespace, name, reason))
    return found


def staying_sidecars(kube: Kube, meshes: set[str]) -> list[StayingSidecar]:
    """Pods with an injected sidecar in the namespaces ``meshes`` monitor."""
    from osm_mesh.kube.meshes import monitored_namespaces, name_of

    by_mesh = monitored_namespaces(kube)
    mesh_of = {ns: mesh for mesh, names in by_mesh.items() if mesh in meshes for ns in names}
    if not mesh_of:
        return []
    pods = kube.core.list_pod_for_all_namespaces(label_selector=labels.PROXY_UUID_LABEL)
    found = []
    pod: Any
    for pod in pods.items or []:
        namespace = str(pod.metadata.namespace)
        if namespace not in mesh_of:
            continue
        phase = str((pod.status.phase if pod.status else None) or "Unknown")
        if phase in ("Succeeded", "Failed"):
            continue
        found.append(StayingSidecar(namespace, name_of(pod), mesh_of[namespace], phase))
    return sorted(found)
