"""What `osm uninstall mesh -a` removes besides the Helm release, and namespace deletion.

Without ``-a`` nothing here runs: CRDs hold the users' policies (osm#3760). With it, the
mesh's webhook configurations (created at run time by the injector, so not in the release),
its CA Secret, and — only when no other mesh is left to use them — the SMI and MeshConfig
CRDs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from osm_mesh import labels

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube


@dataclass
class Cleanup:
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def webhook_selector(mesh_name: str, app: str) -> str:
    return (
        f"{labels.K8S_APP_NAME_LABEL}={labels.K8S_APP_NAME_VALUE},"
        f"{labels.K8S_APP_INSTANCE_LABEL}={mesh_name},{labels.APP_LABEL}={app}"
    )


def injector_webhook_name(mesh_name: str) -> str:
    return f"osm-webhook-{mesh_name}"


def _names(listing: Any) -> list[str]:
    return [str(item.metadata.name) for item in (listing.items or []) if item.metadata]


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "status", None) == 404


def delete_cluster_wide(
    kube: Kube,
    mesh_name: str,
    namespace: str,
    ca_secret_name: str,
    crd_names: Iterable[str],
    other_meshes: Iterable[str] = (),
) -> Cleanup:
    """Delete the mesh's webhooks and CA Secret; the CRDs too unless other meshes remain."""
    from kubernetes.client.exceptions import ApiException

    result = Cleanup()
    admission = kube.admission

    mutating = set(
        _names(
            admission.list_mutating_webhook_configuration(
                label_selector=webhook_selector(mesh_name, labels.INJECTOR_NAME)
            )
        )
    )
    mutating.add(injector_webhook_name(mesh_name))
    for name in sorted(mutating):
        try:
            admission.delete_mutating_webhook_configuration(name)
            result.deleted.append(f"MutatingWebhookConfiguration {name}")
        except ApiException as exc:
            if not _not_found(exc):
                raise
    validating = _names(
        admission.list_validating_webhook_configuration(
            label_selector=webhook_selector(mesh_name, labels.CONTROLLER_NAME)
        )
    )
    for name in validating:
        try:
            admission.delete_validating_webhook_configuration(name)
            result.deleted.append(f"ValidatingWebhookConfiguration {name}")
        except ApiException as exc:
            if not _not_found(exc):
                raise
    try:
        kube.core.delete_namespaced_secret(ca_secret_name, namespace)
        result.deleted.append(f"Secret {namespace}/{ca_secret_name}")
    except ApiException as exc:
        if not _not_found(exc):
            raise

    others = sorted(set(other_meshes))
    for name in crd_names:
        if others:
            result.kept.append(f"CustomResourceDefinition {name}")
            continue
        try:
            kube.apiextensions.delete_custom_resource_definition(name)
            result.deleted.append(f"CustomResourceDefinition {name}")
        except ApiException as exc:
            if not _not_found(exc):
                raise
    return result


def leftovers(
    kube: Kube, mesh_name: str, namespace: str, ca_secret_name: str, crd_names: Iterable[str]
) -> list[str]:
    """What ``delete_cluster_wide`` would delete now (to say "nothing to do" honestly)."""
    return [
        f"{kind} {ns + '/' if ns else ''}{name}"
        for kind, ns, name in leftover_objects(
            kube, mesh_name, namespace, ca_secret_name, crd_names
        )
    ]


def leftover_objects(
    kube: Kube, mesh_name: str, namespace: str, ca_secret_name: str, crd_names: Iterable[str]
) -> list[tuple[str, str, str]]:
    """(kind, namespace or "", name) of each object ``delete_cluster_wide`` would delete."""
    from kubernetes.client.exceptions import ApiException

    found: list[tuple[str, str, str]] = []
    admission = kube.admission
    mutating = "MutatingWebhookConfiguration"
    for name in _names(
        admission.list_mutating_webhook_configuration(
            label_selector=webhook_selector(mesh_name, labels.INJECTOR_NAME)
        )
    ):
        found.append((mutating, "", name))
    try:
        admission.read_mutating_webhook_configuration(injector_webhook_name(mesh_name))
        entry = (mutating, "", injector_webhook_name(mesh_name))
        if entry not in found:
            found.append(entry)
    except ApiException as exc:
        if not _not_found(exc):
            raise
    for name in _names(
        admission.list_validating_webhook_configuration(
            label_selector=webhook_selector(mesh_name, labels.CONTROLLER_NAME)
        )
    ):
        found.append(("ValidatingWebhookConfiguration", "", name))
    try:
        kube.core.read_namespaced_secret(ca_secret_name, namespace)
        found.append(("Secret", namespace, ca_secret_name))
    except ApiException as exc:
        if not _not_found(exc):
            raise
    for name in crd_names:
        try:
            kube.apiextensions.read_custom_resource_definition(name)
            found.append(("CustomResourceDefinition", "", name))
        except ApiException as exc:
            if not _not_found(exc):
                raise
    return found


def delete_namespace(kube: Kube, namespace: str) -> bool:
    """True when the namespace existed and its deletion was accepted."""
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.delete_namespace(namespace)
    except ApiException as exc:
        if _not_found(exc):
            return False
        raise
    return True
