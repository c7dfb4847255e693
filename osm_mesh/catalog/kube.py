"""A one-shot catalog from a live cluster (what ``osm policy check-pods`` needs).

Lists Pods, Services, ServiceAccounts and the SMI objects of the given namespaces, plus the
MeshConfig from the control-plane namespace, through the ``kubernetes`` client, and builds
a Catalog with the same code as every other source. SMI kinds are read at the newest
version the API server serves (a 404 means the CRD is absent: no objects of that kind).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from osm_mesh import labels
from osm_mesh.catalog.build import build_catalog
from osm_mesh.catalog.model import Catalog
from osm_mesh.smi.parse import SUPPORTED
from osm_mesh.smi.policy_ext import POLICY_PLURALS, POLICY_SUPPORTED

_PLURALS = {
    "TrafficTarget": "traffictargets",
    "HTTPRouteGroup": "httproutegroups",
    "TCPRoute": "tcproutes",
    "UDPRoute": "udproutes",
    "TrafficSplit": "trafficsplits",
    **POLICY_PLURALS,
}
# Custom kinds read from a cluster: SMI plus the resilience policies (docs/resilience.md).
CUSTOM_KINDS = {**SUPPORTED, **POLICY_SUPPORTED}
MESHCONFIG_GROUP = "config.openservicemesh.io"
MESHCONFIG_VERSIONS = ("v1alpha2", "v1alpha1", "v1alpha3")


def _is_404(exc: Exception) -> bool:
    return getattr(exc, "status", None) == 404


def _core_objects(kube: Any, namespace: str) -> list[dict[str, Any]]:
    serialize = kube.api_client.sanitize_for_serialization
    out: list[dict[str, Any]] = []
    for kind, lister in (
        ("Pod", kube.core.list_namespaced_pod),
        ("Service", kube.core.list_namespaced_service),
        ("ServiceAccount", kube.core.list_namespaced_service_account),
    ):
        for item in lister(namespace).items:
            obj = serialize(item)
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", kind)
            out.append(obj)
    return out


def _custom_objects(
    kube: Any, group: str, versions: Iterable[str], plural: str, namespace: str
) -> list[dict[str, Any]]:
    from kubernetes.client.exceptions import ApiException

    for version in versions:
        try:
            result = kube.custom.list_namespaced_custom_object(group, version, namespace, plural)
        except ApiException as exc:
            if _is_404(exc):
                continue
            raise
        items = result.get("items") or []
        for item in items:
            item.setdefault("apiVersion", f"{group}/{version}")
        return list(items)
    return []


def mesh_config_object(kube: Any, osm_namespace: str) -> dict[str, Any] | None:
    """The MeshConfig ``osm-mesh-config`` in ``osm_namespace``, None when absent."""
    from kubernetes.client.exceptions import ApiException

    for version in MESHCONFIG_VERSIONS:
        try:
            obj: dict[str, Any] = kube.custom.get_namespaced_custom_object(
                MESHCONFIG_GROUP, version, osm_namespace, "meshconfigs", labels.MESH_CONFIG_NAME
            )
        except ApiException as exc:
            if _is_404(exc):
                continue
            raise
        obj.setdefault("apiVersion", f"{MESHCONFIG_GROUP}/{version}")
        obj.setdefault("kind", "MeshConfig")
        return obj
    return None


def cluster_objects(kube: Any, namespaces: Iterable[str]) -> list[dict[str, Any]]:
    """Pods, Services, ServiceAccounts and SMI objects of ``namespaces``."""
    objects: list[dict[str, Any]] = []
    for ns in sorted(set(namespaces)):
        objects.extend(_core_objects(kube, ns))
        for kind, (group, versions) in CUSTOM_KINDS.items():
            newest_first = tuple(reversed(versions))
            objects.extend(_custom_objects(kube, group, newest_first, _PLURALS[kind], ns))
    return objects


def catalog_from_cluster(
    kube: Any, namespaces: Iterable[str], mesh_config: dict[str, Any] | None
) -> Catalog:
    """A Catalog of ``namespaces`` (all treated as monitored) with the given MeshConfig."""
    namespaces = sorted(set(namespaces))
    objects = cluster_objects(kube, namespaces)
    if mesh_config is not None:
        objects.append(mesh_config)
    return build_catalog(objects, monitored=namespaces, synthesize_pods=False)
