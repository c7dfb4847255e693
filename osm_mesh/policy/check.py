"""``osm policy check-pods SRC DST``: may one meshed pod call another, and on which routes.

Upstream's behaviour (pods must carry the ``osm-proxy-uuid`` label; ``pod`` alone means the
``default`` namespace; MeshConfig ``osm-mesh-config`` decides permissive mode), but the
answer comes from the shared SMI model and policy evaluation, and lists the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from osm_mesh import labels
from osm_mesh.catalog.kube import catalog_from_cluster, mesh_config_object
from osm_mesh.catalog.model import Identity
from osm_mesh.errors import InvalidInput, NotFound
from osm_mesh.policy.evaluate import ALL, RouteAccess, allowed_routes
from osm_mesh.smi.model import HTTPMatch

POD_FORM = "Pod name should be of the form <namespace/pod>, or <pod> for default namespace"


def parse_pod_arg(value: str, role: str) -> tuple[str, str]:
    """``ns/pod`` or ``pod`` (namespace ``default``, as upstream)."""
    chunks = value.split("/")
    if not value or len(chunks) > 2 or not all(chunks):
        raise InvalidInput(
            f"Invalid argument specified for the {role} pod [{value}]: {POD_FORM}, got: {value!r}",
            hint="e.g. osm policy check-pods bookbuyer/bookbuyer-client bookstore/bookstore-0",
        )
    return ("default", chunks[0]) if len(chunks) == 1 else (chunks[0], chunks[1])


@dataclass(frozen=True)
class PodCheck:
    source: tuple[str, str]
    destination: tuple[str, str]
    source_identity: Identity
    destination_identity: Identity
    osm_namespace: str
    access: RouteAccess

    @property
    def permissive(self) -> bool:
        return self.access.permissive

    @property
    def allowed(self) -> bool:
        return self.access.allowed

    def to_dict(self) -> dict[str, Any]:
        a = self.access
        return {
            "source": "/".join(self.source),
            "destination": "/".join(self.destination),
            "sourceIdentity": str(self.source_identity),
            "destinationIdentity": str(self.destination_identity),
            "mode": "permissive" if a.permissive else "smi",
            "allowed": a.allowed,
            "trafficTargets": [f"{r.namespace}/{r.name}" for r in a.traffic_targets],
            "routes": {
                "http": "all" if a.http is ALL else [match_dict(m) for m in a.http],  # type: ignore[union-attr]
                "tcpPorts": "all" if a.tcp_ports is ALL else list(a.tcp_ports),  # type: ignore[arg-type]
                "udpPorts": "all" if a.udp_ports is ALL else list(a.udp_ports),  # type: ignore[arg-type]
            },
        }


def match_dict(m: HTTPMatch) -> dict[str, Any]:
    return {
        "name": m.name,
        "pathRegex": m.path_regex,
        "methods": list(m.methods) or ["*"],
        "headers": dict(m.headers),
    }


def _meshed_pod(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    try:
        pod = kube.core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(
                f"Could not find pod {name} in namespace {namespace}",
                hint=f"List the pods with: kubectl get pods -n {namespace}",
            ) from None
        raise
    obj: dict[str, Any] = kube.api_client.sanitize_for_serialization(pod)
    if labels.PROXY_UUID_LABEL not in ((obj.get("metadata") or {}).get("labels") or {}):
        raise InvalidInput(
            f"Pod {name} in namespace {namespace} is not a part of a mesh",
            hint=f"Add the namespace with 'osm namespace add {namespace}' and restart the pod",
        )
    return obj


def check_pods(kube: Any, source: str, destination: str, osm_namespace: str) -> PodCheck:
    src_ns, src_name = parse_pod_arg(source, "source")
    dst_ns, dst_name = parse_pod_arg(destination, "destination")
    src = _meshed_pod(kube, src_ns, src_name)
    dst = _meshed_pod(kube, dst_ns, dst_name)
    config = mesh_config_object(kube, osm_namespace)
    if config is None:
        raise NotFound(
            f"Error fetching MeshConfig {labels.MESH_CONFIG_NAME} in namespace {osm_namespace}",
            hint="Is osm installed there? Pass the control plane's namespace with --osm-namespace",
        )
    catalog = catalog_from_cluster(kube, {src_ns, dst_ns}, config)
    src_sa = (src.get("spec") or {}).get("serviceAccountName") or "default"
    dst_sa = (dst.get("spec") or {}).get("serviceAccountName") or "default"
    src_id, dst_id = Identity(src_ns, src_sa), Identity(dst_ns, dst_sa)
    return PodCheck(
        (src_ns, src_name),
        (dst_ns, dst_name),
        src_id,
        dst_id,
        osm_namespace,
        allowed_routes(catalog, src_id, dst_id),
    )
