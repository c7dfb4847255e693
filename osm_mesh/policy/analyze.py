"""``osm policy analyze``: the lint checks plus what only the live cluster shows.

Three inputs, like ``istioctl analyze``:

- the live cluster (no files): every SMI/policy object, the Namespaces, and the Pods,
  Services and ServiceAccounts of the namespaces that matter (``catalog.kube.mesh_objects``);
- files *as if applied* to the live cluster: a file object replaces the cluster object of the
  same (group, kind, namespace, name), exactly as ``kubectl apply`` would;
- files alone (``offline``): the same as ``osm policy lint``, with the same codes.

On top of the lint checks, cluster checks (codes 04xx, and 0306 for policies) that need
the mesh's real state: Services in meshed namespaces that select only pods without a sidecar,
running pods left without their sidecar, a missing MeshConfig, policies in a namespace of
another mesh, and TrafficTarget subjects whose ServiceAccount does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osm_mesh import labels
from osm_mesh.catalog.build import build_catalog
from osm_mesh.catalog.loader import Document, LoadResult, load_paths, parse_documents
from osm_mesh.catalog.model import Catalog, Identity
from osm_mesh.catalog.source import object_key
from osm_mesh.policy.lint import LintReport, check_documents, report_of
from osm_mesh.policy.lint_base import Docs, Out
from osm_mesh.smi import codes
from osm_mesh.smi.model import ObjectRef, Problem

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube


@dataclass(frozen=True)
class AnalyzeOptions:
    mesh_name: str = labels.DEFAULT_MESH_NAME
    osm_namespace: str = labels.DEFAULT_OSM_NAMESPACE
    # Only findings about objects in this namespace (None: all).
    namespace: str | None = None


def load_files(paths: Iterable[str | Path], stdin_text: str | None = None) -> LoadResult:
    paths = list(paths)
    loaded = load_paths([p for p in paths if str(p) != "-"])
    if any(str(p) == "-" for p in paths):
        docs, problems = parse_documents(stdin_text or "", "<stdin>")
        loaded.documents.extend(docs)
        loaded.problems.extend(problems)
        loaded.files.append("<stdin>")
    return loaded


def overlay(cluster: Iterable[dict[str, Any]], files: list[Document]) -> list[Document]:
    """Cluster objects as documents, each replaced by a file object with the same key."""
    replaced = {object_key(d.obj) for d in files}
    kept = [Document(obj) for obj in cluster if object_key(obj) not in replaced]
    return kept + list(files)


def analyze(
    kube: Kube | None, loaded: LoadResult | None, options: AnalyzeOptions | None = None
) -> LintReport:
    """Lint + cluster checks; ``kube`` None analyzes the files alone (lint)."""
    options = options or AnalyzeOptions()
    files = loaded.documents if loaded is not None else []
    load_problems = loaded.problems if loaded is not None else []
    if kube is None:
        docs = list(files)
        problems = check_documents(docs, load_problems)
    else:
        from osm_mesh.catalog.kube import mesh_objects

        docs = overlay(mesh_objects(kube, options.mesh_name, options.osm_namespace), files)
        problems = check_documents(docs, load_problems)
        problems = cluster_checks(docs, problems, options)
    if options.namespace is not None:
        problems = [p for p in problems if p.ref is None or p.ref.namespace == options.namespace]
    return report_of(
        problems, files=len(loaded.files) if loaded is not None else 0, objects=len(docs)
    )


def cluster_checks(
    docs: list[Document], problems: list[Problem], options: AnalyzeOptions
) -> list[Problem]:
    """``problems`` plus the 04xx checks; a policy subject whose ServiceAccount does not exist
    replaces the weaker "no workload runs as it" finding on the same field."""
    catalog = build_catalog(docs, monitored="all", pod_ip=lambda *_: "192.0.2.1")
    out = Out(Docs(docs))
    namespaces = {
        str(d.obj["metadata"]["name"]): d.obj["metadata"]
        for d in docs
        if d.obj.get("kind") == "Namespace" and isinstance(d.obj.get("metadata"), dict)
    }
    mine = {
        name
        for name, meta in namespaces.items()
        if (meta.get("labels") or {}).get(labels.MONITORED_BY_LABEL) == options.mesh_name
        and (meta.get("labels") or {}).get(labels.IGNORE_LABEL) != labels.IGNORE_LABEL_VALUE
    }
    _mesh_config(out, docs, options)
    _other_mesh(out, catalog, namespaces, options.mesh_name)
    _sidecars(out, catalog, namespaces, mine)
    missing = _accounts(out, catalog, namespaces)
    weaker = [
        p
        for p in problems
        if not (p.code == codes.IDENTITY_UNUSED.id and (p.ref, p.field) in missing)
    ]
    return weaker + out.problems


def _mesh_config(out: Out, docs: list[Document], options: AnalyzeOptions) -> None:
    if any(d.obj.get("kind") == "MeshConfig" for d in docs):
        return
    out.add(
        codes.MESH_CONFIG_MISSING,
        "warning",
        ObjectRef("MeshConfig", options.osm_namespace, labels.MESH_CONFIG_NAME),
        "",
        f"MeshConfig {labels.MESH_CONFIG_NAME} does not exist in namespace "
        f"{options.osm_namespace!r}: the controller uses the chart's defaults",
        "check --osm-namespace, or restore it with `osm mesh upgrade`",
    )


def _other_mesh(out: Out, catalog: Catalog, namespaces: dict[str, Any], mesh_name: str) -> None:
    with_policies = {t.namespace for t in catalog.traffic_targets + catalog.traffic_splits}
    for name in sorted(with_policies):
        other = ((namespaces.get(name) or {}).get("labels") or {}).get(labels.MONITORED_BY_LABEL)
        if other and other != mesh_name:
            out.add(
                codes.NAMESPACE_IN_OTHER_MESH,
                "warning",
                ObjectRef("Namespace", None, name),
                "metadata.labels",
                f"namespace holds SMI policies but belongs to mesh [{other}], not "
                f"[{mesh_name}]: this mesh ignores them",
                f"analyze mesh [{other}] with --mesh-name {other}, or move the namespace: "
                f"osm namespace remove {name} --mesh-name {other} && osm namespace add {name}",
            )


def _injection_enabled(namespace_meta: dict[str, Any], pod_annotations: Any) -> bool:
    pod_says = pod_annotations.get(labels.SIDECAR_INJECTION_ANNOTATION)
    if pod_says in (labels.INJECTION_ENABLED, labels.INJECTION_DISABLED):
        return bool(pod_says == labels.INJECTION_ENABLED)
    ns_says = (namespace_meta.get("annotations") or {}).get(labels.SIDECAR_INJECTION_ANNOTATION)
    return bool(ns_says == labels.INJECTION_ENABLED)


def _sidecars(out: Out, catalog: Catalog, namespaces: dict[str, Any], mine: set[str]) -> None:
    for svc in catalog.services:
        if svc.namespace not in mine:
            continue
        pods = catalog.pods_of_service(svc)
        if pods and not any(p.proxy_uuid for p in pods):
            workloads = sorted({f"deployment/{p.deployment}" for p in pods if p.deployment})
            out.add(
                codes.SERVICE_SELECTS_NO_MESHED_POD,
                "warning",
                ObjectRef("Service", svc.namespace, svc.name),
                "spec.selector",
                f"selects {len(pods)} pod(s), none with a sidecar: meshed clients cannot "
                "reach it over mTLS",
                "restart its pods so they get a sidecar: "
                + (
                    f"kubectl rollout restart {' '.join(workloads)} -n {svc.namespace}"
                    if workloads
                    else f"delete and recreate them in namespace {svc.namespace}"
                ),
            )
    for pod in catalog.pods:
        if pod.namespace not in mine or pod.proxy_uuid:
            continue
        if not _injection_enabled(namespaces.get(pod.namespace) or {}, pod.annotations):
            continue
        owner = f"deployment/{pod.deployment}" if pod.deployment else f"pod {pod.name}"
        out.add(
            codes.POD_WITHOUT_SIDECAR,
            "warning",
            ObjectRef("Pod", pod.namespace, pod.name),
            "",
            "runs without its sidecar in a namespace with sidecar injection enabled "
            "(it started before the namespace joined the mesh): it is outside the mesh",
            f"restart it: kubectl rollout restart {owner} -n {pod.namespace}"
            if pod.deployment
            else f"delete and recreate {owner} in namespace {pod.namespace}",
        )


def _accounts(out: Out, catalog: Catalog, namespaces: dict[str, Any]) -> set[tuple[ObjectRef, str]]:
    """TrafficTarget subjects whose ServiceAccount does not exist (namespaces that were read)."""
    known = set(catalog.service_accounts)
    read = {i.namespace for i in known} | {p.namespace for p in catalog.pods}
    missing: set[tuple[ObjectRef, str]] = set()
    for target in catalog.traffic_targets:
        subjects = [("spec.destination.name", target.destination)]
        subjects += [(f"spec.sources[{i}]", s) for i, s in enumerate(target.sources)]
        for field, subject in subjects:
            namespace = subject.namespace or target.namespace
            identity = Identity(namespace, subject.name)
            if identity in known or namespace not in read:
                continue
            if namespace not in namespaces:
                message = f"namespace {namespace!r} of ServiceAccount {identity} does not exist"
            else:
                message = f"ServiceAccount {identity} does not exist: this subject never matches"
            out.add(
                codes.SERVICE_ACCOUNT_NOT_FOUND,
                "warning",
                target.ref,
                field,
                message,
                f"create it (kubectl create serviceaccount {subject.name} -n {namespace}) "
                "or fix the name",
            )
            missing.add((target.ref, field))
    return missing
