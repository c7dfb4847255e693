"""Semantic checks behind ``osm policy lint`` (schema checks live in ``osm_mesh.smi.parse``).

A namespace whose workloads (or Services) are not in the linted files is not judged on
them: policies are often linted apart from the apps, and namespaces are often created with
``kubectl create namespace`` (OSM's bookstore demo does), so a missing Namespace is info.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from osm_mesh import labels
from osm_mesh.catalog.build import WORKLOAD_KINDS
from osm_mesh.catalog.loader import Document
from osm_mesh.catalog.model import Catalog, Identity, Service
from osm_mesh.catalog.source import object_key
from osm_mesh.smi.model import ObjectRef, Problem, Rule, TrafficSplit, TrafficTarget


class _Docs:
    """Where each object was defined (the last definition wins, as with kubectl apply)."""

    def __init__(self, docs: Iterable[Document]) -> None:
        self.by_key: dict[tuple[str, str, str, str], list[Document]] = defaultdict(list)
        self.by_ref: dict[tuple[str, str | None, str], Document] = {}
        for d in docs:
            key = object_key(d.obj)
            self.by_key[key].append(d)
            self.by_ref[(key[1], key[2] or None, key[3])] = d

    def where(self, ref: ObjectRef) -> tuple[str, int | None]:
        doc = self.by_ref.get((ref.kind, ref.namespace, ref.name))
        return (doc.file, doc.line) if doc else ("", None)


class _Out:
    def __init__(self, docs: _Docs) -> None:
        self.docs = docs
        self.problems: list[Problem] = []

    def add(self, severity: Any, ref: ObjectRef, field: str, message: str, hint: str) -> None:
        file, line = self.docs.where(ref)
        self.problems.append(Problem(severity, ref, field, message, hint, file, line))


def run_checks(documents: list[Document], catalog: Catalog) -> list[Problem]:
    docs = _Docs(documents)
    out = _Out(docs)
    _duplicates(out, docs)
    _namespaces_and_accounts(out, documents, catalog)
    ctx = _Context(catalog, documents)
    for target in catalog.traffic_targets:
        _traffic_target(out, ctx, target)
    seen_roots: set[tuple[str, str]] = set()
    for split in catalog.traffic_splits:
        _traffic_split(out, ctx, split, seen_roots)
    _unreferenced_routes(out, catalog)
    return out.problems


class _Context:
    def __init__(self, catalog: Catalog, documents: list[Document]) -> None:
        self.catalog = catalog
        self.ns_with_pods = {p.namespace for p in catalog.pods}
        self.ns_with_services = {s.namespace for s in catalog.services}
        self.smi_mode = (
            any(d.obj.get("kind") == "MeshConfig" for d in documents) and not catalog.permissive
        )

    def has_workload(self, identity: Identity) -> bool | None:
        """True/False, or None when the namespace's workloads are not in the files."""
        if identity.namespace not in self.ns_with_pods:
            return None
        return bool(self.catalog.pods_of_identity(identity))


def _duplicates(out: _Out, docs: _Docs) -> None:
    for key, found in docs.by_key.items():
        if len(found) < 2 or not key[3]:
            continue
        ref = ObjectRef(key[1], key[2] or None, key[3])
        files = sorted({d.file for d in found})
        if len(files) == 1:
            out.add(
                "error",
                ref,
                "metadata.name",
                f"defined {len(found)} times in the same file",
                "rename or remove the duplicate",
            )
        else:
            out.add(
                "warning",
                ref,
                "metadata.name",
                "also defined in "
                + ", ".join(files[:-1])
                + "; applied together, the last one replaces the others",
                "apply only one of them, or give them different names",
            )


def _namespaces_and_accounts(out: _Out, documents: list[Document], catalog: Catalog) -> None:
    defined = {
        str(d.obj["metadata"]["name"]): d
        for d in documents
        if d.obj.get("kind") == "Namespace" and isinstance(d.obj.get("metadata"), dict)
    }
    accounts: dict[str, set[str]] = defaultdict(set)
    for d in documents:
        if d.obj.get("kind") == "ServiceAccount":
            meta = d.obj.get("metadata") or {}
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
        ns_labels = d.obj["metadata"].get("labels") or {}
        has_smi = any(t.namespace == name for t in catalog.traffic_targets + catalog.traffic_splits)
        if has_smi and labels.MONITORED_BY_LABEL not in ns_labels:
            out.add(
                "warning",
                ObjectRef("Namespace", None, name),
                "metadata.labels",
                "namespace holds SMI policies but is not in a mesh "
                f"(no {labels.MONITORED_BY_LABEL} label): they will have no effect",
                f"osm namespace add {name}",
            )


def _workload(out: _Out, ref: ObjectRef, obj: dict[str, Any], accounts: set[str] | None) -> None:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    tlabels = (template.get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if any(tlabels.get(k) != v for k, v in selector.items()):
        out.add(
            "error",
            ref,
            "spec.selector.matchLabels",
            "selector does not match the pod template's labels (the API server rejects it)",
            "make spec.template.metadata.labels include every spec.selector.matchLabels entry",
        )
    sa = (template.get("spec") or {}).get("serviceAccountName")
    if sa and accounts is not None and sa not in accounts and sa != "default":
        out.add(
            "warning",
            ref,
            "spec.template.spec.serviceAccountName",
            f"ServiceAccount {sa!r} is not defined in these files: pods cannot start without it",
            f"add a ServiceAccount named {sa!r}",
        )


def _rule_problem(ctx: _Context, target: TrafficTarget, rule: Rule) -> tuple[str, str] | None:
    c, ns = ctx.catalog, target.namespace
    if rule.kind == "HTTPRouteGroup":
        group = c.http_route_group(ns, rule.name)
        if group is None:
            existing = [g.name for g in c.http_route_groups if g.namespace == ns]
            return (
                f"HTTPRouteGroup {rule.name!r} does not exist in namespace {ns!r}",
                "create it or fix the name" + _listing(existing),
            )
        missing = [m for m in rule.matches or () if group.match(m) is None]
        if missing:
            names = [m.name for m in group.matches]
            return (
                f"match {', '.join(map(repr, missing))} not found in HTTPRouteGroup {rule.name!r}",
                "use a match name of the group" + _listing(names),
            )
        return None
    lookup = c.tcp_route if rule.kind == "TCPRoute" else c.udp_route
    if lookup(ns, rule.name) is None:
        return (
            f"{rule.kind} {rule.name!r} does not exist in namespace {ns!r}",
            f"create the {rule.kind} or fix the name",
        )
    return None


def _listing(names: list[str]) -> str:
    return f" (existing: {', '.join(sorted(names))})" if names else ""


def _traffic_target(out: _Out, ctx: _Context, target: TrafficTarget) -> None:
    ref = target.ref
    for i, rule in enumerate(target.rules):
        problem = _rule_problem(ctx, target, rule)
        if problem:
            out.add("error", ref, f"spec.rules[{i}]", *problem)
    if target.destination.namespace is None:
        out.add(
            "warning",
            ref,
            "spec.destination.namespace",
            "destination has no namespace; "
            f"the TrafficTarget's namespace {target.namespace!r} is assumed",
            "set spec.destination.namespace",
        )
    dest = Identity(target.namespace, target.destination.name)
    if ctx.has_workload(dest) is False:
        out.add(
            "warning",
            ref,
            "spec.destination.name",
            f"no workload runs as ServiceAccount {dest}: this TrafficTarget can never match",
            "check the name against the Deployments' serviceAccountName",
        )
    for i, src in enumerate(target.sources):
        if src.namespace and ctx.has_workload(Identity(src.namespace, src.name)) is False:
            out.add(
                "warning",
                ref,
                f"spec.sources[{i}]",
                f"no workload runs as ServiceAccount "
                f"{src.namespace}/{src.name}: this source can never match",
                "check the name against the Deployments' serviceAccountName",
            )
    services = ctx.catalog.services_of_identity(dest)
    protocols = {p.protocol for s in services for p in s.ports}
    kinds = {r.kind for r in target.rules}
    if protocols and kinds == {"TCPRoute"} and not protocols & {"tcp"}:
        out.add(
            "warning",
            ref,
            "spec.rules",
            "only TCPRoute rules, but the destination's "
            "Service ports are HTTP: TCPRoute rules apply to TCP ports only",
            "use an HTTPRouteGroup, or mark the port TCP (appProtocol: tcp or name tcp-*)",
        )
    if protocols and kinds == {"HTTPRouteGroup"} and not protocols & {"http", "grpc"}:
        out.add(
            "warning",
            ref,
            "spec.rules",
            "only HTTPRouteGroup rules, but the destination's "
            "Service ports are TCP: HTTP rules do not apply to them",
            "add a TCPRoute rule",
        )


def _traffic_split(
    out: _Out, ctx: _Context, split: TrafficSplit, seen_roots: set[tuple[str, str]]
) -> None:
    c, ref, ns = ctx.catalog, split.ref, split.namespace
    if (ns, split.service) in seen_roots:
        out.add(
            "warning",
            ref,
            "spec.service",
            f"another TrafficSplit already has root service "
            f"{split.service!r}; only the first (by name) is used",
            "merge the splits",
        )
    seen_roots.add((ns, split.service))
    checkable = ns in ctx.ns_with_services
    root = c.service(ns, split.service)
    if root is None and checkable:
        out.add(
            "error",
            ref,
            "spec.service",
            f"root Service {split.service!r} does not exist in namespace {ns!r}",
            "create the root Service clients call, or fix the name",
        )
    elif root is not None and not c.pods_of_service(root):
        selector = ",".join(f"{k}={v}" for k, v in root.selector.items()) or "<none>"
        out.add(
            "warning",
            ref,
            "spec.service",
            f"root Service {split.service!r} selects no pod "
            f"(selector {selector}); this mesh still splits calls to it over the backends, "
            "but OSM v1.2 would not route it in SMI mode",
            "give the root Service a selector matching the backends' pods, e.g. a label "
            "shared by every version",
        )
    for i, backend in enumerate(split.backends):
        _backend(out, ctx, split, root, i, backend.service, checkable)
    for i, match in enumerate(split.matches):
        if c.http_route_group(ns, match.name) is None:
            out.add(
                "error",
                ref,
                f"spec.matches[{i}]",
                f"HTTPRouteGroup {match.name!r} does not exist in namespace {ns!r}",
                "create it or fix the name",
            )


def _backend(
    out: _Out,
    ctx: _Context,
    split: TrafficSplit,
    root: Service | None,
    i: int,
    name: str,
    checkable: bool,
) -> None:
    c, ref, path = ctx.catalog, split.ref, f"spec.backends[{i}].service"
    svc = c.service(split.namespace, name)
    if svc is None:
        if checkable:
            out.add(
                "error",
                ref,
                path,
                f"backend Service {name!r} does not exist in namespace {split.namespace!r}",
                "create the Service or fix the name",
            )
        return
    if name == split.service:
        out.add(
            "warning",
            ref,
            path,
            "the root service is also a backend",
            "list only the versioned Services as backends",
        )
        return
    if c.traffic_splits_of(svc):
        out.add(
            "warning",
            ref,
            path,
            f"backend {name!r} is itself the root of a TrafficSplit; splits are not hierarchical",
            "split directly over the final Services",
        )
    if not c.pods_of_service(svc):
        out.add(
            "warning",
            ref,
            path,
            f"backend Service {name!r} selects no pod: it is dropped "
            "and the other backends share its traffic",
            "fix the Service's selector",
        )
    if root is not None:
        missing = [p.port for p in root.ports if svc.port(p.port) is None]
        if missing:
            out.add(
                "warning",
                ref,
                path,
                f"backend {name!r} has no port "
                f"{', '.join(map(str, missing))} of the root Service: it is dropped for "
                "those ports",
                "give the backend the same port numbers as the root",
            )
    if ctx.smi_mode:
        for identity in sorted({p.identity for p in c.pods_of_service(svc)}):
            if not c.traffic_targets_to(identity):
                out.add(
                    "warning",
                    ref,
                    path,
                    f"no TrafficTarget allows traffic to {identity} "
                    f"(backend {name!r}): a split grants no access, requests sent there "
                    "are denied",
                    f"add a TrafficTarget with destination {identity.name}",
                )


def _unreferenced_routes(out: _Out, catalog: Catalog) -> None:
    used = {(t.namespace, r.kind, r.name) for t in catalog.traffic_targets for r in t.rules}
    used |= {
        (s.namespace, "HTTPRouteGroup", m.name) for s in catalog.traffic_splits for m in s.matches
    }
    routes = catalog.http_route_groups + catalog.tcp_routes + catalog.udp_routes
    for route in routes:
        if (route.namespace, route.ref.kind, route.name) not in used:
            out.add(
                "info",
                route.ref,
                "metadata.name",
                "not referenced by any TrafficTarget or TrafficSplit",
                "reference it from a rule, or delete it",
            )
