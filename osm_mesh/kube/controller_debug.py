"""Read the controller's loopback-only debug endpoints through a port-forward.

The debug server listens on 127.0.0.1:9092 inside the controller's pod (labels.py says why);
a port-forward arrives on the pod's loopback, so it is the one way in, and it needs the
``pods/portforward`` permission in the control-plane namespace.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import TYPE_CHECKING

from osm_mesh import labels
from osm_mesh.errors import MeshError, NotFound
from osm_mesh.kube.meshes import controller_pods, find_mesh
from osm_mesh.kube.portforward import connect_host, forward_to_pod, http_get
from osm_mesh.proxystatus import MAX_REPORT_BYTES, Report, parse_report

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

READ_TIMEOUT_S = 15.0


def controller_pod(kube: Kube, mesh_name: str) -> tuple[str, str]:
    """(namespace, pod) of the mesh's first running controller; NotFound says what is missing."""
    mesh = find_mesh(kube, mesh_name)
    if mesh is None:
        raise NotFound(
            f"Did not find mesh [{mesh_name}]",
            hint="List the meshes with `osm mesh list`; pass --mesh-name",
        )
    pods = controller_pods(kube, mesh.namespace, mesh.name)
    if not pods:
        raise NotFound(
            f"no osm-controller pod of mesh [{mesh.name}] in namespace [{mesh.namespace}]",
            hint=f"kubectl get pods -n {mesh.namespace} -l {labels.CONTROLLER_SELECTOR}",
        )
    return mesh.namespace, pods[0]


def read_proxy_status(
    kube: Kube, mesh_name: str, on_debug: Callable[[str], None] | None = None
) -> Report:
    namespace, pod = controller_pod(kube, mesh_name)
    source = f"osm-controller pod [{pod}] in namespace [{namespace}]"
    port = labels.CONTROLLER_DEBUG_PORT
    path = labels.CONTROLLER_PROXY_STATUS_PATH
    with forward_to_pod(kube, namespace, pod, port) as forwarder:
        if on_debug:
            on_debug(f"GET {path} on {forwarder.target} via 127.0.0.1:{forwarder.local_port}")
        try:
            answer = http_get(
                connect_host(forwarder.address),
                forwarder.local_port,
                path,
                timeout=READ_TIMEOUT_S,
                max_bytes=MAX_REPORT_BYTES,
            )
        except (OSError, http.client.HTTPException) as exc:
            reason = forwarder.last_error or f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise MeshError(
                f"could not read the proxy status from {source}: {reason}",
                hint=f"The controller serves it on 127.0.0.1:{port} (osm-controller ≥ this "
                f"CLI's version); check: kubectl logs {pod} -n {namespace}",
            ) from None
    if answer.status != 200:
        first = answer.body.decode(errors="replace").strip().splitlines()[:1]
        raise MeshError(
            f"{source} answered HTTP {answer.status} to {path}"
            + (f": {first[0][:200]}" if first else ""),
            hint=f"kubectl logs {pod} -n {namespace}",
        )
    return parse_report(answer.body, source)
