"""Checks made before `osm install` writes anything (upstream's pre-install hook, done
client-side so a refusal leaves the cluster untouched).

Messages are upstream's, so scripts that grep them keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from osm_mesh import labels
from osm_mesh.errors import Conflict

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube


@dataclass(frozen=True)
class ExistingMesh:
    name: str
    namespace: str
    enforces_single_mesh: bool


def existing_meshes(kube: Kube) -> list[ExistingMesh]:
    """Every control plane in the cluster (``app=osm-controller`` Deployments)."""
    from osm_mesh.kube.meshes import controller_deployments, mesh_name_of

    found = []
    for deployment in controller_deployments(kube):
        meta = deployment.metadata
        found.append(
            ExistingMesh(
                name=mesh_name_of(deployment),
                namespace=meta.namespace,
                enforces_single_mesh=(meta.labels or {}).get(labels.ENFORCE_SINGLE_MESH_LABEL)
                == "true",
            )
        )
    return sorted(found, key=lambda m: (m.namespace, m.name))


def check_can_install(
    kube: Kube, mesh_name: str, namespace: str, enforce_single_mesh: bool
) -> list[ExistingMesh]:
    """Raise Conflict when installing ``mesh_name`` into ``namespace`` must be refused.

    Order matters for the message the user sees: the most specific problem first.
    """
    meshes = existing_meshes(kube)
    for mesh in meshes:
        if mesh.name == mesh_name:
            raise Conflict(
                f"Mesh {mesh_name} already exists in cluster. "
                "Please specify a new mesh name using --mesh-name",
                hint=f"It runs in namespace {mesh.namespace}; `osm mesh upgrade --mesh-name "
                f"{mesh_name} --osm-namespace {mesh.namespace}` changes its settings",
            )
    for mesh in meshes:
        if mesh.namespace == namespace:
            raise Conflict(
                f"Namespace {namespace} has an osm controller. "
                "Please specify a new namespace using --osm-namespace",
                hint=f"Mesh [{mesh.name}] already runs there",
            )
    for mesh in meshes:
        if mesh.enforces_single_mesh:
            raise Conflict(
                f"Cannot install mesh [{mesh_name}]. Existing mesh [{mesh.name}] "
                "enforces single mesh cluster.",
                hint=f"Mesh [{mesh.name}] runs in namespace {mesh.namespace}",
            )
    if enforce_single_mesh and meshes:
        raise Conflict(
            "Meshes already exist in cluster. Cannot enforce single mesh cluster.",
            hint="Install with --enforce-single-mesh=false to run several meshes",
        )
    return meshes
