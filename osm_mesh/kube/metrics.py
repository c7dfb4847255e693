"""`osm metrics enable|disable`: Prometheus scraping of a namespace's sidecars.

The namespace annotation ``openservicemesh.io/metrics: enabled`` tells the injector to
annotate new pods; pods that already carry a sidecar (label ``osm-proxy-uuid``) are
annotated here directly so Prometheus finds them without a restart. Every namespace is
checked before the first write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from osm_mesh import labels
from osm_mesh.errors import InvalidInput, NotFound
from osm_mesh.kube.client import Kube
from osm_mesh.kube.meshes import mesh_names, name_of
from osm_mesh.kube.namespaces import patch_namespace_metadata, read_namespace, unique
from osm_mesh.kube.rollout import STRATEGIC_MERGE
from osm_mesh.validation import require_namespace_name

SCRAPE_ANNOTATIONS = {
    labels.PROMETHEUS_SCRAPE_ANNOTATION: "true",
    labels.PROMETHEUS_PORT_ANNOTATION: str(labels.ENVOY_PROMETHEUS_PORT),
    labels.PROMETHEUS_PATH_ANNOTATION: labels.ENVOY_PROMETHEUS_PATH,
}


@dataclass(frozen=True)
class MetricsOutcome:
    namespace: str
    enabled: bool
    pods: tuple[str, ...]

    @property
    def message(self) -> str:
        verb = "enabled" if self.enabled else "disabled"
        return f"Metrics successfully {verb} in namespace [{self.namespace}]"


def split_namespaces(values: Sequence[str]) -> list[str]:
    """``--namespace a,b --namespace c`` -> [a, b, c] (cobra StringSlice semantics)."""
    found = [part.strip() for value in values for part in value.split(",")]
    return unique(name for name in found if name)


def _check_monitored(kube: Kube, names: Sequence[str]) -> None:
    existing = mesh_names(kube)
    for name in names:
        ns = read_namespace(kube, name)
        mesh = ns.labels.get(labels.MONITORED_BY_LABEL)
        if not mesh:
            raise InvalidInput(
                f"Namespace [{name}] does not belong to a mesh, missing label "
                f'"{labels.MONITORED_BY_LABEL}"',
                hint=f"Add it to a mesh first: osm namespace add {name}",
            )
        if mesh not in existing:
            raise NotFound(
                f"Namespace [{name}] belongs to mesh [{mesh}], which does not exist",
                hint="List the meshes with: osm mesh list",
            )


def _meshed_pods(kube: Kube, namespace: str) -> list[str]:
    result = kube.core.list_namespaced_pod(namespace, label_selector=labels.PROXY_UUID_LABEL)
    return sorted(name_of(p) for p in result.items or [])


def set_metrics(kube: Kube, namespaces: Sequence[str], enabled: bool) -> list[MetricsOutcome]:
    names = [require_namespace_name(n) for n in split_namespaces(namespaces)]
    if not names:
        raise InvalidInput("no namespace given", hint="Pass --namespace NS (repeatable)")
    _check_monitored(kube, names)
    value = labels.METRICS_ENABLED if enabled else None
    pod_patch = {
        "metadata": {
            "annotations": {k: (v if enabled else None) for k, v in SCRAPE_ANNOTATIONS.items()}
        }
    }
    outcomes = []
    for name in names:
        patch_namespace_metadata(kube, name, {"annotations": {labels.METRICS_ANNOTATION: value}})
        pods = _meshed_pods(kube, name)
        patched = []
        for pod in pods:
            try:
                kube.core.patch_namespaced_pod(pod, name, pod_patch, _content_type=STRATEGIC_MERGE)
            except ApiException as exc:
                if exc.status != 404:  # a pod deleted since the list is simply gone
                    raise
                continue
            patched.append(pod)
        outcomes.append(MetricsOutcome(name, enabled, tuple(patched)))
    return outcomes
