"""traffic-access: TrafficTarget v1alpha1 (no spec), v1alpha2 (destination port), v1alpha3."""

from __future__ import annotations

from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.fields import Ctx, mapping, port_number, seq, text, unknown_keys
from osm_mesh.smi.model import (
    RULE_KINDS,
    IdentityRef,
    Rule,
    TrafficTarget,
)


def _subject(
    ctx: Ctx, raw: Any, path: str, source: bool, with_port: bool = False
) -> IdentityRef | None:
    data = mapping(ctx, raw, path, required=True)
    if not isinstance(raw, dict):
        return None  # mapping() said what is wrong
    # An empty subject ({}) goes on: its missing name is an error, not a silent drop.
    unknown_keys(ctx, data, path, ("kind", "name", "namespace") + (("port",) if with_port else ()))
    kind = data.get("kind", "ServiceAccount")
    if kind != "ServiceAccount":
        ctx.error(f"{path}.kind", f"unsupported subject kind {kind!r}", "use kind: ServiceAccount")
    name = text(ctx, data.get("name"), f"{path}.name")
    namespace = text(ctx, data.get("namespace"), f"{path}.namespace", required=False) or None
    if source and namespace is None:
        ctx.warn(
            f"{path}.namespace",
            "source has no namespace and will never match (SMI spec)",
            "set the source ServiceAccount's namespace",
        )
    return IdentityRef(name, namespace) if name else None


def _rules(ctx: Ctx, raw: Any, path: str) -> tuple[Rule, ...]:
    rules = []
    for i, item in enumerate(seq(ctx, raw, path)):
        p = f"{path}[{i}]"
        data = mapping(ctx, item, p)
        kind = text(ctx, data.get("kind"), f"{p}.kind")
        if kind and kind not in RULE_KINDS:
            ctx.error(f"{p}.kind", f"unknown rule kind {kind!r}", "use " + ", ".join(RULE_KINDS))
        name = text(ctx, data.get("name"), f"{p}.name")
        matches: tuple[str, ...] | None = None
        if data.get("matches") is not None:
            names = seq(ctx, data["matches"], f"{p}.matches")
            if not all(isinstance(n, str) and n for n in names):
                ctx.error(
                    f"{p}.matches",
                    "match references must be non-empty strings",
                    "list the names of matches in the route",
                )
            # An empty list behaves like an absent one: all matches of the route.
            matches = tuple(str(n) for n in names) or None
        if kind and name:
            rules.append(Rule(kind, name, matches))
    return tuple(rules)


def stored_shape(obj: dict[str, Any], version: str) -> str:
    """The version whose shape the body has, which may not be the one it was read as.

    The CRDs convert with strategy None (as upstream's did): the API server hands out the
    stored body under whichever served version is asked for. A v1alpha2 TrafficTarget read as
    v1alpha1 still has its ``spec``; a v1alpha1 one read as v1alpha3 has none; a v1alpha2 one
    read as v1alpha3 keeps ``destination.port``, which is honoured (the narrower reading).
    """
    spec = obj.get("spec")
    if version == "v1alpha1" and isinstance(spec, dict) and "destination" not in obj:
        return "v1alpha2"
    if version != "v1alpha1" and spec is None and "destination" in obj:
        return "v1alpha1"
    if version == "v1alpha3" and isinstance(spec, dict):
        destination = spec.get("destination")
        if isinstance(destination, dict) and "port" in destination:
            return "v1alpha2"
    return version


def traffic_target(ctx: Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    read_as, version = version, stored_shape(obj, version)
    if read_as == "v1alpha3" and version == "v1alpha2":
        ctx.warn(
            "spec.destination.port",
            "unknown field in v1alpha3 (a v1alpha2 field); honoured as in v1alpha2, since the "
            "API server shows a stored v1alpha2 object this way",
            "write apiVersion access.smi-spec.io/v1alpha2 for a per-port TrafficTarget",
            codes.UNKNOWN_FIELD,
        )
    if version == "v1alpha1":
        # v1alpha1 has no spec: destination/sources/specs live at the top level.
        spec, base = obj, ""
        rules_key = "specs"
    else:
        spec, base = mapping(ctx, obj.get("spec"), "spec", required=True), "spec."
        rules_key = "rules"
        # No version has spec.port: the port restriction is destination.port (v1alpha2), so a
        # spec.port restricts nothing and is flagged like any unknown field.
        unknown_keys(ctx, spec, "spec", ("destination", "sources", "rules"))
    dest_raw = spec.get("destination")
    with_port = version in ("v1alpha1", "v1alpha2")
    destination = _subject(ctx, dest_raw, f"{base}destination", False, with_port)
    port = None
    if with_port and isinstance(dest_raw, dict) and dest_raw.get("port") is not None:
        port = port_number(ctx, dest_raw["port"], f"{base}destination.port")
    sources_raw = seq(ctx, spec.get("sources"), f"{base}sources")
    sources: list[IdentityRef] = []
    for i, s in enumerate(sources_raw):
        ref = _subject(ctx, s, f"{base}sources[{i}]", source=True)
        if ref in sources:
            ctx.warn(f"{base}sources[{i}]", "source listed twice", "remove the duplicate")
        elif ref:
            sources.append(ref)
    rules = _rules(ctx, spec.get(rules_key), f"{base}{rules_key}")
    if not sources_raw:
        ctx.error(
            f"{base}sources", "at least one source is required", "add a source ServiceAccount"
        )
    if not rules and not ctx.failed:
        ctx.error(
            f"{base}{rules_key}",
            "at least one rule is required",
            "add a rule referencing an HTTPRouteGroup or TCPRoute",
        )
    if destination is None:
        return None
    if destination.namespace and destination.namespace != ns:
        ctx.error(
            f"{base}destination.namespace",
            f"destination namespace {destination.namespace!r} differs from the "
            f"TrafficTarget's namespace {ns!r}",
            f"create the TrafficTarget in namespace {destination.namespace!r}",
        )
    return TrafficTarget(ns, name, destination, tuple(sources), rules, port, ctx.ref.api_version)
