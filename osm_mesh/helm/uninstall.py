"""`osm uninstall mesh` without any printing: find the meshes, Helm-uninstall the chosen ones
(each after ``confirm``), and with ``-a`` remove the cluster-wide resources too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from osm_mesh import labels
from osm_mesh.errors import NotFound
from osm_mesh.helm.client import HelmClient
from osm_mesh.helm.lifecycle import NoProgress, Progress, validate_mesh_name, validate_namespace
from osm_mesh.helm.location import ChartInfo, crd_names, load_chart

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

LEFTOVERS = "leftovers"


@dataclass(frozen=True)
class MeshRef:
    name: str
    namespace: str
    version: str = ""
    # "deployment"; "helm release" (a release without a controller: failed install);
    # LEFTOVERS (no release, only what -a removes).
    source: str = "deployment"


@dataclass(frozen=True)
class UninstallOptions:
    mesh_name: str | None = None
    namespace: str = labels.DEFAULT_OSM_NAMESPACE
    delete_cluster_wide: bool = False
    delete_namespace: bool = False
    ca_bundle_secret_name: str = labels.CA_BUNDLE_SECRET_NAME
    chart_path: str | None = None
    timeout_s: float = 300.0


@dataclass
class UninstallResult:
    meshes_found: list[MeshRef] = field(default_factory=list)
    uninstalled: list[MeshRef] = field(default_factory=list)
    declined: list[MeshRef] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    namespace_deleted: bool = False
    nothing_to_do: bool = False


async def find_meshes(kube: Kube, helm: HelmClient, namespace: str) -> list[MeshRef]:
    """Meshes in the cluster: controller Deployments everywhere, plus releases of the osm
    chart in ``namespace`` that lost their controller (a failed install)."""
    from osm_mesh.kube.meshes import controller_deployments, mesh_name_of

    found: dict[tuple[str, str], MeshRef] = {}
    for deployment in controller_deployments(kube):
        meta = deployment.metadata
        ref = MeshRef(
            mesh_name_of(deployment),
            str(meta.namespace),
            (meta.labels or {}).get(labels.K8S_APP_VERSION_LABEL, ""),
        )
        found[(ref.name, ref.namespace)] = ref
    for release in await helm.list(namespace):
        if release.chart.startswith("osm-") and (release.name, release.namespace) not in found:
            found[(release.name, release.namespace)] = MeshRef(
                release.name, release.namespace, release.app_version, "helm release"
            )
    return sorted(found.values(), key=lambda m: (m.namespace, m.name))


@dataclass
class Selection:
    """Which meshes an uninstall acts on (``targets``) and under which name ``-a`` cleans up."""

    found: list[MeshRef]
    targets: list[MeshRef]
    mesh_for_cleanup: str
    nothing_to_do: bool = False


async def select_targets(
    kube: Kube, helm: HelmClient, options: UninstallOptions, chart: ChartInfo | None
) -> Selection:
    """The meshes ``options`` names; NotFound when a named (or any) mesh is missing."""
    found = await find_meshes(kube, helm, options.namespace)
    in_namespace = [m for m in found if m.namespace == options.namespace]
    if options.mesh_name:
        targets = [m for m in in_namespace if m.name == options.mesh_name]
    else:
        targets = in_namespace
    # -a with no mesh left still cleans up after the default mesh name (a second run of an
    # interrupted uninstall, or one without -a first).
    mesh_for_cleanup = options.mesh_name or (
        targets[0].name if len(targets) == 1 else labels.DEFAULT_MESH_NAME
    )
    if targets:
        return Selection(found, targets, mesh_for_cleanup)
    leftovers: list[str] = []
    if options.delete_cluster_wide and chart is not None:
        from osm_mesh.kube.uninstall import leftovers as find_leftovers

        leftovers = find_leftovers(
            kube, mesh_for_cleanup, options.namespace, options.ca_bundle_secret_name,
            crd_names(chart) if not found else [],
        )  # fmt: skip
    if leftovers:
        # No release left, but -a has cluster-wide resources to remove.
        targets = [MeshRef(mesh_for_cleanup, options.namespace, source=LEFTOVERS)]
        return Selection(found, targets, mesh_for_cleanup)
    if found:
        elsewhere = "Meshes found: " + ", ".join(
            f"[{m.name}] in namespace [{m.namespace}]" for m in found
        )
        if options.mesh_name:
            raise NotFound(
                f"Did not find mesh [{options.mesh_name}] in namespace [{options.namespace}]",
                hint=elsewhere,
            )
        raise NotFound(
            f"No OSM control planes found in namespace [{options.namespace}]",
            hint=elsewhere + "; pass --osm-namespace",
        )
    return Selection(found, [], mesh_for_cleanup, nothing_to_do=True)


async def uninstall(
    kube: Kube,
    helm: HelmClient,
    options: UninstallOptions,
    confirm: Callable[[MeshRef, list[MeshRef]], bool],
    progress: Progress | None = None,
) -> UninstallResult:
    progress = progress or NoProgress()
    if options.mesh_name is not None:
        validate_mesh_name(options.mesh_name)
    validate_namespace(options.namespace)
    chart = load_chart(options.chart_path) if options.delete_cluster_wide else None
    await helm.check()
    selection = await select_targets(kube, helm, options, chart)
    result = UninstallResult(meshes_found=selection.found)
    if selection.nothing_to_do:
        result.nothing_to_do = True
        return result
    targets, mesh_for_cleanup = selection.targets, selection.mesh_for_cleanup
    for mesh in targets:
        if not confirm(mesh, result.meshes_found):
            result.declined.append(mesh)
            continue
        if mesh.source != LEFTOVERS:
            progress.step(f"Uninstalling mesh [{mesh.name}] in namespace [{mesh.namespace}]")
            if not await helm.uninstall(mesh.name, mesh.namespace, timeout_s=options.timeout_s):
                raise NotFound(
                    f"Helm release [{mesh.name}] not found in namespace [{mesh.namespace}]",
                    hint="This control plane was not installed with `osm install` (Helm); "
                    "remove it the way it was installed",
                )
            result.uninstalled.append(mesh)
    if result.declined:
        return result

    if options.delete_cluster_wide and chart is not None:
        from osm_mesh.kube.uninstall import delete_cluster_wide

        others = [
            m.name
            for m in result.meshes_found
            if m not in result.uninstalled and m.name != mesh_for_cleanup
        ]
        progress.step("Deleting cluster-wide resources (-a)")
        for mesh_name in sorted({m.name for m in result.uninstalled} or {mesh_for_cleanup}):
            cleanup = delete_cluster_wide(
                kube,
                mesh_name,
                options.namespace,
                options.ca_bundle_secret_name,
                crd_names(chart),
                other_meshes=others,
            )
            result.deleted.extend(cleanup.deleted)
            result.kept.extend(k for k in cleanup.kept if k not in result.kept)
    if options.delete_namespace:
        from osm_mesh.kube.uninstall import delete_namespace

        result.namespace_deleted = delete_namespace(kube, options.namespace)
    return result
