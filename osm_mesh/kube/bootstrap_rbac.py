"""The controller's right to keep bootstrap Secrets, granted per meshed namespace.

The controller patches each injected pod's bootstrap Secret twice over its life: to make the pod
its owner (so the Secret goes with the pod) and to renew the short-lived bootstrap certificate
in it (``osm_mesh.controller.bootstrap_secrets``). The chart ships ClusterRole
``<mesh>-osm-bootstrap-secrets`` (``patch`` on Secrets) but binds it nowhere: a cluster-wide
binding would let a compromised controller rewrite every Secret in the cluster. ``osm namespace
add`` binds it in the namespace it adds (RoleBinding of the same name, subject the mesh's
``osm-controller`` ServiceAccount), ``osm namespace remove`` takes the binding away.
"""

from __future__ import annotations

from typing import Any

from osm_mesh import labels
from osm_mesh.kube.client import Kube


def binding_name(mesh_name: str) -> str:
    return f"{mesh_name}-osm-bootstrap-secrets"


def bootstrap_secrets_binding(mesh_name: str, namespace: str, osm_namespace: str) -> dict[str, Any]:
    name = binding_name(mesh_name)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                labels.K8S_APP_NAME_LABEL: labels.K8S_APP_NAME_VALUE,
                labels.K8S_APP_INSTANCE_LABEL: mesh_name,
            },
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [
            {"kind": "ServiceAccount", "name": labels.CONTROLLER_NAME, "namespace": osm_namespace}
        ],
    }


def grant(kube: Kube, mesh_name: str, namespace: str, osm_namespace: str) -> bool:
    """Make sure the RoleBinding is in ``namespace``; True when it had to be written.

    Nothing is bound when the mesh has no such ClusterRole (a mesh installed by upstream OSM
    or an older chart): a binding to nothing would only be litter."""
    from kubernetes.client.exceptions import ApiException

    body: Any = bootstrap_secrets_binding(mesh_name, namespace, osm_namespace)
    name = body["metadata"]["name"]
    try:
        kube.rbac.read_cluster_role(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        if exc.status != 403:  # not allowed to look: bind anyway, the API server decides
            raise
    try:
        current = kube.rbac.read_namespaced_role_binding(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        kube.rbac.create_namespaced_role_binding(namespace, body)
        return True
    subjects = [(s.kind, s.name, s.namespace) for s in current.subjects or []]
    wanted_ref = body["roleRef"]
    same_ref = (current.role_ref.kind, current.role_ref.name) == (
        wanted_ref["kind"],
        wanted_ref["name"],
    )
    if same_ref and subjects == [("ServiceAccount", labels.CONTROLLER_NAME, osm_namespace)]:
        return False
    if not same_ref:
        # A binding's roleRef is immutable (the API server answers 422 to a replace): the
        # binding of that name that points elsewhere is deleted and made again.
        kube.rbac.delete_namespaced_role_binding(name, namespace)
        kube.rbac.create_namespaced_role_binding(namespace, body)
        return True
    kube.rbac.replace_namespaced_role_binding(name, namespace, body)
    return True


def revoke(kube: Kube, mesh_name: str, namespace: str) -> None:
    """Delete the RoleBinding from ``namespace`` (nothing to do when it is not there)."""
    from kubernetes.client.exceptions import ApiException

    try:
        kube.rbac.delete_namespaced_role_binding(binding_name(mesh_name), namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
