"""Semantic checks behind ``osm policy lint`` (schema checks live in ``osm_mesh.smi.parse``).

A namespace whose workloads (or Services) are not in the linted files is not judged on
them: policies are often linted apart from the apps, and namespaces are often created with
``kubectl create namespace`` (OSM's bookstore demo does), so a missing Namespace is info.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from osm_mesh import labels
from osm_mesh.catalog.build import WORKLOAD_KINDS
from osm_mesh.catalog.loader import Document
from osm_mesh.catalog.model import Catalog
from osm_mesh.catalog.shape import as_dict, dig
from osm_mesh.catalog.source import object_key
from osm_mesh.policy.lint_base import Context, Docs, Out
from osm_mesh.policy.lint_resilience import resilience_checks
from osm_mesh.policy.lint_smi import traffic_split_checks, traffic_target_checks
from osm_mesh.smi import codes
from osm_mesh.smi.model import ObjectRef, Problem


def run_checks(documents: list[Document], catalog: Catalog) -> list[Problem]:
    docs = Docs(documents)
    out = Out(docs)
    _duplicates(out, docs)
    _namespaces_and_accounts(out, documents, catalog)
    ctx = Context(catalog, documents, docs)
    for target in catalog.traffic_targets:
        traffic_target_checks(out, ctx, target)
    seen_roots: set[tuple[str, str]] = set()
    for split in catalog.traffic_splits:
        traffic_split_checks(out, ctx, split, seen_roots)
    _unreferenced_routes(out, catalog)
    _service_ports(out, catalog)
    resilience_checks(out, ctx)
    return out.problems


def _duplicates(out: Out, docs: Docs) -> None:
    for key, found in docs.by_key.items():
        if len(found) < 2 or not key[3]:
            continue
        ref = ObjectRef(key[1], key[2] or None, key[3])
        files = sorted({d.file for d in found})
        if len(files) == 1:
            out.add(
                codes.DUPLICATE_OBJECT,
                "error",
                ref,
                "metadata.name",
                f"defined {len(found)} times in the same file",
                "rename or remove the duplicate",
            )
        else:
            out.add(
                codes.DUPLICATE_OBJECT,
                "warning",
                ref,
                "metadata.name",
                "also defined in "
                + ", ".join(files[:-1])
                + "; applied together, the last one replaces the others",
                "apply only one of them, or give them different names",
            )


def _namespaces_and_accounts(out: Out, documents: list[Document], catalog: Catalog) -> None:
    defined = {
        str(dig(d.obj, "metadata", "name")): d
        for d in documents
        if d.obj.get("kind") == "Namespace" and dig(d.obj, "metadata", "name")
    }
    accounts: dict[str, set[str]] = defaultdict(set)
    for d in documents:
        if d.obj.get("kind") == "ServiceAccount":
            meta = as_dict(d.obj.get("metadata"))
            accounts[str(meta.get("namespace") or "default")].add(str(meta.get("name")))
    reported: set[str] = set()
    for d in documents:
        key = object_key(d.obj)
        ns, kind = key[2], key[1]
        ref = ObjectRef(kind, ns or None, key[3])
        # The control plane's namespace (MeshConfig's) is created by `osm install`.
        if (
            kind != "MeshConfig"
            and ns
            and ns not in defined
            and ns not in reported
            and ns != "default"
        ):
            reported.add(ns)
            out.add(
                codes.NAMESPACE_NOT_DEFINED,
                "info",
                ref,
                "metadata.namespace",
                f"namespace {ns!r} is not defined in "
                "these files (fine if it already exists in the cluster)",
                f"kubectl create namespace {ns} && osm namespace add {ns}",
            )
        if kind in WORKLOAD_KINDS:
            _workload(out, ref, d.obj, accounts.get(ns or "default"))
    for name, d in defined.items():
        ns_labels = as_dict(dig(d.obj, "metadata", "labels"))
        has_smi = any(t.namespace == name for t in catalog.traffic_targets + catalog.traffic_splits)
        if has_smi and ns_labels.get(labels.IGNORE_LABEL) == labels.IGNORE_LABEL_VALUE:
            out.add(
                codes.NAMESPACE_IGNORED,
                "warning",
                ObjectRef("Namespace", None, name),
                "metadata.labels",
                f"namespace holds SMI policies but is labelled {labels.IGNORE_LABEL}=true: "
                "the mesh ignores it",
                f"remove the {labels.IGNORE_LABEL} label",
            )
        elif has_smi and labels.MONITORED_BY_LABEL not in ns_labels:
            out.add(
                codes.NAMESPACE_NOT_IN_MESH,
                "warning",
                ObjectRef("Namespace", None, name),
                "metadata.labels",
                "namespace holds SMI policies but is not in a mesh "
                f"(no {labels.MONITORED_BY_LABEL} label): they will have no effect",
                f"osm namespace add {name}",
            )


def _workload(out: Out, ref: ObjectRef, obj: dict[str, Any], accounts: set[str] | None) -> None:
    tlabels = as_dict(dig(obj, "spec", "template", "metadata", "labels"))
    selector = as_dict(dig(obj, "spec", "selector", "matchLabels"))
    if any(tlabels.get(k) != v for k, v in selector.items()):
        out.add(
            codes.SELECTOR_MISMATCH,
            "error",
            ref,
            "spec.selector.matchLabels",
            "selector does not match the pod template's labels (the API server rejects it)",
            "make spec.template.metadata.labels include every spec.selector.matchLabels entry",
        )
    replicas = dig(obj, "spec", "replicas")
    if replicas is not None and (
        isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0
    ):
        out.add(
            codes.INVALID_FIELD,
            "error",
            ref,
            "spec.replicas",
            f"must be a whole number of 0 or more, got {replicas!r}",
            "write it unquoted, e.g. replicas: 2",
        )
    sa = dig(obj, "spec", "template", "spec", "serviceAccountName")
    if isinstance(sa, str) and sa and accounts is not None and sa not in accounts | {"default"}:
        out.add(
            codes.SERVICE_ACCOUNT_NOT_FOUND,
            "warning",
            ref,
            "spec.template.spec.serviceAccountName",
            f"ServiceAccount {sa!r} is not defined in these files: pods cannot start without it",
            f"add a ServiceAccount named {sa!r}",
        )


def _unreferenced_routes(out: Out, catalog: Catalog) -> None:
    used = {(t.namespace, r.kind, r.name) for t in catalog.traffic_targets for r in t.rules}
    used |= {
        (s.namespace, "HTTPRouteGroup", m.name) for s in catalog.traffic_splits for m in s.matches
    }
    routes = catalog.http_route_groups + catalog.tcp_routes + catalog.udp_routes
    for route in routes:
        if (route.namespace, route.ref.kind, route.name) not in used:
            out.add(
                codes.ROUTE_UNUSED,
                "info",
                route.ref,
                "metadata.name",
                "not referenced by any TrafficTarget or TrafficSplit",
                "reference it from a rule, or delete it",
            )


def _service_ports(out: Out, catalog: Catalog) -> None:
    """A named targetPort that no selected pod declares leaves the Service without endpoints."""
    for svc in catalog.services:
        pods = catalog.pods_of_service(svc)
        for i, port in enumerate(svc.ports):
            target = port.target_port
            if (
                pods
                and isinstance(target, str)
                and all(p.resolve_port(target) is None for p in pods)
            ):
                out.add(
                    codes.TARGET_PORT_NOT_FOUND,
                    "warning",
                    ObjectRef("Service", svc.namespace, svc.name),
                    f"spec.ports[{i}].targetPort",
                    f"no selected pod has a container port named {target!r}: port {port.port} "
                    "has no endpoints",
                    "name the container port accordingly or use the port number",
                )
