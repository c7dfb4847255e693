"""A one-shot catalog from a live cluster (``osm policy check-pods``), and the objects
``osm policy analyze`` reads.

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


def _cluster_custom_objects(
    kube: Any, group: str, versions: Iterable[str], plural: str
) -> list[dict[str, Any]]:
    """Every object of one custom kind in all namespaces, at the newest version served."""
    from kubernetes.client.exceptions import ApiException

    for version in versions:
        try:
            result = _patiently(
                lambda v=version: kube.custom.list_cluster_custom_object(group, v, plural)
            )
        except ApiException as exc:
            if _is_404(exc):
                continue
            raise
        items = result.get("items") or []
        for item in items:
            item.setdefault("apiVersion", f"{group}/{version}")
        return list(items)
    return []


def _patiently(call: Any, budget_s: float = 15.0) -> Any:
    """``call()``, again while the API server answers 429: a freshly created CRD answers
    "storage is (re)initializing" until its watch cache is ready (seen on the real server
    right after `osm install`). Retry-After is honoured, within ``budget_s``."""
    import time

    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + budget_s
    while True:
        try:
            return call()
        except ApiException as exc:
            if exc.status != 429 or time.monotonic() >= deadline:
                raise
            retry_after = (exc.headers or {}).get("Retry-After", "1")
            wait = float(retry_after) if str(retry_after).isdigit() else 1.0
            time.sleep(min(max(wait, 0.2), 2.0, max(0.0, deadline - time.monotonic())))


def mesh_objects(kube: Any, mesh_name: str, osm_namespace: str) -> list[dict[str, Any]]:
    """What ``osm policy analyze`` reads: every Namespace, every SMI and policy object, the
    Pods, Services and ServiceAccounts of the namespaces that matter (monitored by the mesh,
    holding SMI objects, or named by a TrafficTarget), and the mesh's MeshConfig."""
    serialize = kube.api_client.sanitize_for_serialization
    objects: list[dict[str, Any]] = []
    relevant: set[str] = set()
    for item in kube.core.list_namespace().items or []:
        obj = serialize(item)
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", "Namespace")
        objects.append(obj)
        ns_labels = (obj.get("metadata") or {}).get("labels") or {}
        if ns_labels.get(labels.MONITORED_BY_LABEL) == mesh_name:
            relevant.add(str(obj["metadata"]["name"]))
    for kind, (group, versions) in CUSTOM_KINDS.items():
        found = _cluster_custom_objects(kube, group, tuple(reversed(versions)), _PLURALS[kind])
        for obj in found:
            meta = obj.get("metadata") or {}
            relevant.add(str(meta.get("namespace") or "default"))
            spec: dict[str, Any] = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
            for subject in [spec.get("destination"), *(spec.get("sources") or [])]:
                if isinstance(subject, dict) and subject.get("namespace"):
                    relevant.add(str(subject["namespace"]))
        objects.extend(found)
    for ns in sorted(relevant):
        objects.extend(_core_objects(kube, ns))
    mesh_config = mesh_config_object(kube, osm_namespace)
    if mesh_config is not None:
        objects.append(mesh_config)
    return objects
