"""Find the meshes (osm control planes) of a cluster and ask their controllers about themselves.

A mesh is an ``osm-controller`` Deployment (label ``app=osm-controller``) in any namespace;
its name is the Deployment's ``meshName`` label. The controller answers ``/version`` and
``/smi/version`` on port 9091, read here through the API server's pod proxy so no local port
or extra network path is needed. Those calls get a short timeout: one hung pod must not
stall `osm version` or `osm mesh list` (istio#32923).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from osm_mesh import labels
from osm_mesh.errors import MeshError
from osm_mesh.kube.client import Kube

T = TypeVar("T")

UNKNOWN = "Unknown"
# (connect, read) seconds for one pod-proxy call. Meshes are asked in parallel, so a
# command waits at most about this long however many controllers hang.
CONTROLLER_TIMEOUT_S = (2.0, 3.0)
MAX_PARALLEL = 8


@dataclass(frozen=True)
class Mesh:
    name: str
    namespace: str
    # From the Deployment's app.kubernetes.io/version label, as upstream's `mesh list`.
    version: str
    deployment: str
    added_namespaces: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "version": self.version,
            "addedNamespaces": list(self.added_namespaces),
        }


@dataclass(frozen=True)
class ControllerVersion:
    """What one mesh's controller said at ``/version`` (or why it could not be asked)."""

    mesh: str
    namespace: str
    version: str = UNKNOWN
    git_commit: str = UNKNOWN
    build_date: str = UNKNOWN
    pod: str | None = None
    error: str | None = None
    # When the mesh CA expires (ISO 8601, from the controller); "" when not reported.
    ca_not_after: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "meshName": self.mesh,
            "meshNamespace": self.namespace,
            "version": self.version,
            "gitCommit": self.git_commit,
            "buildDate": self.build_date,
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class MeshSmi:
    mesh: str
    namespace: str
    # SMI kind -> API version ("TrafficTarget" -> "v1alpha3"); empty when unknown.
    supported: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    def formatted(self) -> str:
        """Upstream's cell: ``HTTPRouteGroup:v1alpha4,TCPRoute:v1alpha4,...`` or Unknown."""
        if not self.supported:
            return UNKNOWN
        return ",".join(f"{kind}:{version}" for kind, version in sorted(self.supported.items()))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "meshName": self.mesh,
            "meshNamespace": self.namespace,
            "smiSupported": dict(sorted(self.supported.items())),
        }
        if self.error:
            data["error"] = self.error
        return data


# The client's models type metadata (and most fields) as optional; these read them plainly.
def labels_of(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.labels or {}) if obj.metadata else {}


def annotations_of(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.annotations or {}) if obj.metadata else {}


def name_of(obj: Any) -> str:
    return str(obj.metadata.name) if obj.metadata and obj.metadata.name else ""


def controller_deployments(kube: Kube, namespace: str | None = None) -> list[Any]:
    """``app=osm-controller`` Deployments, in one namespace or all of them."""
    if namespace:
        result = kube.apps.list_namespaced_deployment(
            namespace, label_selector=labels.CONTROLLER_SELECTOR
        )
    else:
        result = kube.apps.list_deployment_for_all_namespaces(
            label_selector=labels.CONTROLLER_SELECTOR
        )
    return list(result.items or [])


def mesh_name_of(deployment: Any) -> str:
    found = labels_of(deployment)
    return (
        found.get(labels.MESH_NAME_LABEL)
        or found.get(labels.K8S_APP_INSTANCE_LABEL)
        or labels.DEFAULT_MESH_NAME
    )


def monitored_namespaces(kube: Kube) -> dict[str, list[str]]:
    """mesh name -> sorted namespaces labelled ``openservicemesh.io/monitored-by=<mesh>``."""
    result = kube.core.list_namespace(label_selector=labels.MONITORED_BY_LABEL)
    by_mesh: dict[str, list[str]] = {}
    ns: Any
    for ns in result.items or []:
        mesh = labels_of(ns).get(labels.MONITORED_BY_LABEL)
        if mesh:
            by_mesh.setdefault(mesh, []).append(name_of(ns))
    return {mesh: sorted(names) for mesh, names in by_mesh.items()}


def list_meshes(kube: Kube, *, with_namespaces: bool = True) -> list[Mesh]:
    """Every mesh in the cluster, sorted by (name, namespace)."""
    deployments = controller_deployments(kube)
    joined = monitored_namespaces(kube) if with_namespaces and deployments else {}
    meshes = []
    seen: set[tuple[str, str]] = set()
    for deployment in deployments:
        name = mesh_name_of(deployment)
        namespace = deployment.metadata.namespace
        if (name, namespace) in seen:
            continue
        seen.add((name, namespace))
        meshes.append(
            Mesh(
                name=name,
                namespace=namespace,
                version=labels_of(deployment).get(labels.K8S_APP_VERSION_LABEL) or UNKNOWN,
                deployment=deployment.metadata.name,
                added_namespaces=tuple(joined.get(name, ())),
            )
        )
    return sorted(meshes, key=lambda m: (m.name, m.namespace))


def find_mesh(kube: Kube, mesh_name: str) -> Mesh | None:
    """The mesh called ``mesh_name`` (upstream: any Deployment labelled meshName=<mesh>)."""
    for mesh in list_meshes(kube, with_namespaces=False):
        if mesh.name == mesh_name:
            return mesh
    return None


def mesh_names(kube: Kube) -> set[str]:
    return {m.name for m in list_meshes(kube, with_namespaces=False)}


def controller_pods(kube: Kube, namespace: str, mesh_name: str | None = None) -> list[str]:
    """Names of the controller pods in ``namespace``, Running ones first, then by name."""
    result = kube.core.list_namespaced_pod(namespace, label_selector=labels.CONTROLLER_SELECTOR)
    pods = []
    pod: Any
    for pod in result.items or []:
        pod_labels = labels_of(pod)
        instance = pod_labels.get(labels.K8S_APP_INSTANCE_LABEL) or pod_labels.get(
            labels.MESH_NAME_LABEL
        )
        # Two meshes cannot share a namespace upstream, but a pod that names another mesh
        # is certainly not this one's.
        if mesh_name and instance and instance != mesh_name:
            continue
        phase = pod.status.phase if pod.status else None
        pods.append((phase != "Running", name_of(pod)))
    return [name for _, name in sorted(pods)]


def controller_get(
    kube: Kube,
    namespace: str,
    pod: str,
    path: str,
    port: int = labels.CONTROLLER_HTTP_PORT,
    timeout: tuple[float, float] = CONTROLLER_TIMEOUT_S,
) -> bytes:
    """GET ``path`` from ``pod:port`` through the API server's pod proxy; the raw body."""
    response: Any = kube.core.connect_get_namespaced_pod_proxy_with_path(
        f"{pod}:{port}",
        namespace,
        path.lstrip("/"),
        # Raw bytes: the generated client would otherwise re-shape JSON bodies.
        _preload_content=False,
        _request_timeout=timeout,
    )
    try:
        return bytes(response.read())
    finally:
        response.release_conn()


def _controller_json(kube: Kube, namespace: str, pod: str, path: str) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError, TimeoutError

    from osm_mesh.kube.errors import translate

    try:
        body = controller_get(kube, namespace, pod, path)
    except ApiException as exc:  # e.g. 503 "error trying to reach service"
        raise translate(exc) from None
    except (HTTPError, OSError) as exc:
        # The API server answered the calls before this one, so a failure here is the pod
        # (through the proxy) being slow or gone, not the cluster being unreachable.
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError) or "timed out" in str(reason).lower():
            raise MeshError(f"no answer within {CONTROLLER_TIMEOUT_S[1]:g}s") from None
        raise MeshError(f"request failed: {reason}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise MeshError(
            f"osm-controller pod [{pod}] in namespace [{namespace}] answered {path} "
            "with something that is not JSON"
        ) from None


def controller_version(kube: Kube, mesh: Mesh) -> ControllerVersion:
    """The controller's own report of its version; errors are kept, not raised."""
    pods = controller_pods(kube, mesh.namespace, mesh.name)
    if not pods:
        return ControllerVersion(
            mesh.name,
            mesh.namespace,
            error=f"no osm-controller pod in namespace [{mesh.namespace}]",
        )
    pod = pods[0]
    try:
        info = _controller_json(kube, mesh.namespace, pod, labels.CONTROLLER_VERSION_PATH)
    except MeshError as exc:
        return ControllerVersion(
            mesh.name,
            mesh.namespace,
            pod=pod,
            error=f"could not read the version from pod [{pod}]: {exc.message}",
        )
    if not isinstance(info, dict):
        info = {}
    return ControllerVersion(
        mesh=mesh.name,
        namespace=mesh.namespace,
        version=str(info.get("version") or UNKNOWN),
        git_commit=str(info.get("git_commit") or info.get("gitCommit") or UNKNOWN),
        build_date=str(info.get("build_date") or info.get("buildDate") or UNKNOWN),
        pod=pod,
        ca_not_after=str(info.get("ca_not_after") or ""),
    )


def _each_mesh(fn: Callable[[Mesh], T], meshes: Sequence[Mesh]) -> list[T]:
    """``fn`` over ``meshes`` in parallel threads (the calls mostly wait), in order."""
    if len(meshes) <= 1:
        return [fn(mesh) for mesh in meshes]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(meshes))) as pool:
        return list(pool.map(fn, meshes))


def controller_versions(
    kube: Kube, meshes: Iterable[Mesh] | None = None
) -> list[ControllerVersion]:
    found = list_meshes(kube, with_namespaces=False) if meshes is None else list(meshes)
    return _each_mesh(lambda mesh: controller_version(kube, mesh), found)


def parse_smi_versions(payload: Any) -> dict[str, str]:
    """``{"TrafficTarget": "access.smi-spec.io/v1alpha3", ...}`` -> kind -> version."""
    if not isinstance(payload, dict):
        return {}
    versions = {}
    for kind, api_version in payload.items():
        text = str(api_version)
        versions[str(kind)] = text.split("/", 1)[1] if "/" in text else text
    return versions


def smi_support(kube: Kube, mesh: Mesh) -> MeshSmi:
    pods = controller_pods(kube, mesh.namespace, mesh.name)
    if not pods:
        return MeshSmi(mesh.name, mesh.namespace, error="no osm-controller pod")
    try:
        payload = _controller_json(
            kube, mesh.namespace, pods[0], labels.CONTROLLER_SMI_VERSION_PATH
        )
    except MeshError as exc:
        return MeshSmi(mesh.name, mesh.namespace, error=exc.message)
    return MeshSmi(mesh.name, mesh.namespace, parse_smi_versions(payload))


def smi_supports(kube: Kube, meshes: Sequence[Mesh]) -> list[MeshSmi]:
    return _each_mesh(lambda mesh: smi_support(kube, mesh), list(meshes))
