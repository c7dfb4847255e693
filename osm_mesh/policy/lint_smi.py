"""Lint checks of TrafficTargets and TrafficSplits against the objects beside them."""

from __future__ import annotations

from osm_mesh.catalog.model import Identity, Service
from osm_mesh.policy.lint_base import Context, Out
from osm_mesh.smi import codes
from osm_mesh.smi.codes import Code
from osm_mesh.smi.model import Rule, TrafficSplit, TrafficTarget


def _rule_problem(ctx: Context, target: TrafficTarget, rule: Rule) -> tuple[Code, str, str] | None:
    c, ns = ctx.catalog, target.namespace
    if rule.kind == "HTTPRouteGroup":
        group = c.http_route_group(ns, rule.name)
        if group is None and ctx.docs.defined(rule.kind, ns, rule.name):
            return None  # defined but invalid: its own errors say why, no cascade
        if group is None:
            existing = [g.name for g in c.http_route_groups if g.namespace == ns]
            elsewhere = sorted(g.namespace for g in c.http_route_groups if g.name == rule.name)
            hint = "create it or fix the name" + _listing(existing)
            if elsewhere:
                hint = (
                    f"it exists in namespace {', '.join(elsewhere)}, but rules refer to routes "
                    f"in the TrafficTarget's namespace: create it in {ns!r}"
                )
            return (
                codes.ROUTE_NOT_FOUND,
                f"HTTPRouteGroup {rule.name!r} does not exist in namespace {ns!r}",
                hint,
            )
        missing = [m for m in rule.matches or () if group.match(m) is None]
        if missing:
            names = [m.name for m in group.matches]
            return (
                codes.ROUTE_MATCH_NOT_FOUND,
                f"match {', '.join(map(repr, missing))} not found in HTTPRouteGroup {rule.name!r}",
                "use a match name of the group" + _listing(names),
            )
        return None
    lookup = c.tcp_route if rule.kind == "TCPRoute" else c.udp_route
    if lookup(ns, rule.name) is None and not ctx.docs.defined(rule.kind, ns, rule.name):
        return (
            codes.ROUTE_NOT_FOUND,
            f"{rule.kind} {rule.name!r} does not exist in namespace {ns!r}",
            f"create the {rule.kind} or fix the name",
        )
    return None


def _listing(names: list[str]) -> str:
    return f" (existing: {', '.join(sorted(names))})" if names else ""


def traffic_target_checks(out: Out, ctx: Context, target: TrafficTarget) -> None:
    ref = target.ref
    for i, rule in enumerate(target.rules):
        problem = _rule_problem(ctx, target, rule)
        if problem:
            code, message, hint = problem
            out.add(code, "error", ref, f"spec.rules[{i}]", message, hint)
    if target.destination.namespace is None:
        out.add(
            codes.DESTINATION_NAMESPACE_MISSING,
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
            codes.IDENTITY_UNUSED,
            "warning",
            ref,
            "spec.destination.name",
            f"no workload runs as ServiceAccount {dest}: this TrafficTarget can never match",
            "check the name against the Deployments' serviceAccountName",
        )
    for i, src in enumerate(target.sources):
        if src.namespace and ctx.has_workload(Identity(src.namespace, src.name)) is False:
            out.add(
                codes.IDENTITY_UNUSED,
                "warning",
                ref,
                f"spec.sources[{i}]",
                f"no workload runs as ServiceAccount "
                f"{src.namespace}/{src.name}: this source can never match",
                "check the name against the Deployments' serviceAccountName",
            )
    services = ctx.catalog.services_of_identity(dest)
    if not services and ctx.catalog.pods_of_identity(dest):
        out.add(
            codes.DESTINATION_WITHOUT_SERVICE,
            "warning",
            ref,
            "spec.destination.name",
            f"no Service selects the pods running as {dest}: clients have no name to call them by",
            "add a Service whose selector matches the destination's pods",
        )
    protocols = {p.protocol for s in services for p in s.ports}
    kinds = {r.kind for r in target.rules}
    if protocols and kinds == {"TCPRoute"} and not protocols & {"tcp"}:
        out.add(
            codes.RULE_PROTOCOL_MISMATCH,
            "warning",
            ref,
            "spec.rules",
            "only TCPRoute rules, but the destination's "
            "Service ports are HTTP: TCPRoute rules apply to TCP ports only",
            "use an HTTPRouteGroup, or mark the port TCP (appProtocol: tcp or name tcp-*)",
        )
    if protocols and kinds == {"HTTPRouteGroup"} and not protocols & {"http", "grpc"}:
        out.add(
            codes.RULE_PROTOCOL_MISMATCH,
            "warning",
            ref,
            "spec.rules",
            "only HTTPRouteGroup rules, but the destination's "
            "Service ports are TCP: HTTP rules do not apply to them",
            "add a TCPRoute rule",
        )


def traffic_split_checks(
    out: Out, ctx: Context, split: TrafficSplit, seen_roots: set[tuple[str, str]]
) -> None:
    c, ref, ns = ctx.catalog, split.ref, split.namespace
    if (ns, split.service) in seen_roots:
        out.add(
            codes.SPLIT_ROOT_DUPLICATE,
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
            codes.SPLIT_ROOT_NOT_FOUND,
            "error",
            ref,
            "spec.service",
            f"root Service {split.service!r} does not exist in namespace {ns!r}",
            "create the root Service clients call, or fix the name",
        )
    elif root is not None and not c.pods_of_service(root):
        selector = ",".join(f"{k}={v}" for k, v in root.selector.items()) or "<none>"
        out.add(
            codes.SPLIT_ROOT_SELECTS_NO_POD,
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
        if c.http_route_group(ns, match.name) is None and not ctx.docs.defined(
            "HTTPRouteGroup", ns, match.name
        ):
            out.add(
                codes.ROUTE_NOT_FOUND,
                "error",
                ref,
                f"spec.matches[{i}]",
                f"HTTPRouteGroup {match.name!r} does not exist in namespace {ns!r}",
                "create it or fix the name",
            )


def _backend(
    out: Out,
    ctx: Context,
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
                codes.SPLIT_BACKEND_NOT_FOUND,
                "error",
                ref,
                path,
                f"backend Service {name!r} does not exist in namespace {split.namespace!r}",
                "create the Service or fix the name",
            )
        return
    if name == split.service:
        out.add(
            codes.SPLIT_ROOT_IS_BACKEND,
            "warning",
            ref,
            path,
            "the root service is also a backend",
            "list only the versioned Services as backends",
        )
        return
    if c.traffic_splits_of(svc):
        out.add(
            codes.SPLIT_NESTED,
            "warning",
            ref,
            path,
            f"backend {name!r} is itself the root of a TrafficSplit; splits are not hierarchical",
            "split directly over the final Services",
        )
    if not c.pods_of_service(svc):
        out.add(
            codes.SPLIT_BACKEND_SELECTS_NO_POD,
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
                codes.SPLIT_BACKEND_PORT_MISMATCH,
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
                    codes.SPLIT_BACKEND_NOT_ALLOWED,
                    "warning",
                    ref,
                    path,
                    f"no TrafficTarget allows traffic to {identity} "
                    f"(backend {name!r}): a split grants no access, requests sent there "
                    "are denied",
                    f"add a TrafficTarget with destination {identity.name}",
                )
