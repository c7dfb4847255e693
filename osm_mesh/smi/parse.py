"""Parse and validate SMI objects of every version into ``osm_mesh.smi.model``.

``parse_smi(obj)`` takes one Kubernetes-shaped dict and returns the model object (None when
an error makes it unusable: OSM silently ignored such objects, we drop them *and* report
why) plus the problems found, each naming the object, the field, what is wrong and a fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from osm_mesh.smi.model import (
    HTTP_METHODS,
    RULE_KINDS,
    Backend,
    HTTPMatch,
    HTTPRouteGroup,
    IdentityRef,
    ObjectRef,
    Problem,
    Rule,
    RuleRef,
    SmiObject,
    TCPRoute,
    TrafficSplit,
    TrafficTarget,
    UDPRoute,
)

ACCESS = "access.smi-spec.io"
SPECS = "specs.smi-spec.io"
SPLIT = "split.smi-spec.io"
METRICS = "metrics.smi-spec.io"

# kind -> group -> supported versions (facts/smi.md "Versions").
SUPPORTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "TrafficTarget": (ACCESS, ("v1alpha1", "v1alpha2", "v1alpha3")),
    "HTTPRouteGroup": (SPECS, ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")),
    "TCPRoute": (SPECS, ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")),
    "UDPRoute": (SPECS, ("v1alpha4",)),
    "TrafficSplit": (SPLIT, ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")),
}
SMI_GROUPS = (ACCESS, SPECS, SPLIT, METRICS)


def supported_api_versions(kind: str) -> list[str]:
    group, versions = SUPPORTED[kind]
    return [f"{group}/{v}" for v in versions]


def is_smi(obj: dict[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).split("/", 1)[0]
    return group in SMI_GROUPS or obj.get("kind") in SUPPORTED


@dataclass
class _Ctx:
    ref: ObjectRef
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem("error", self.ref, path, message, hint))

    def warn(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem("warning", self.ref, path, message, hint))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def parse_smi(obj: dict[str, Any]) -> tuple[SmiObject | None, list[Problem]]:
    """Parse one SMI object of any supported version; None when it has errors."""
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "default")
    ctx = _Ctx(ObjectRef(kind, namespace, name or "<unnamed>", api_version))
    if kind == "TrafficMetrics":
        ctx.problems.append(
            Problem(
                "info",
                ctx.ref,
                "kind",
                "TrafficMetrics is served by an aggregated API, not a CRD: not checked",
                "",
            )
        )
        return None, ctx.problems
    if kind not in SUPPORTED:
        ctx.error("kind", f"unsupported SMI kind {kind!r}", "supported: " + ", ".join(SUPPORTED))
        return None, ctx.problems
    version = api_version.partition("/")[2]
    if api_version not in supported_api_versions(kind):
        ctx.error(
            "apiVersion",
            f"unknown apiVersion {api_version!r} for {kind}",
            "use one of: " + ", ".join(supported_api_versions(kind)),
        )
        return None, ctx.problems
    if not name:
        ctx.error("metadata.name", "missing name", "set metadata.name")
        return None, ctx.problems
    parser = _PARSERS[kind]
    result = parser(ctx, obj, version, namespace, name)
    if ctx.failed:
        return None, ctx.problems
    return result, ctx.problems


# -- helpers -----------------------------------------------------------------------------------


def _dict(ctx: _Ctx, value: Any, path: str, required: bool = False) -> dict[str, Any]:
    if value is None:
        if required:
            ctx.error(path, "is required", f"add {path}")
        return {}
    if not isinstance(value, dict):
        ctx.error(path, f"must be a mapping, got {type(value).__name__}")
        return {}
    return value


def _list(ctx: _Ctx, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.error(path, f"must be a list, got {type(value).__name__}", f"write {path} as a list")
        return []
    return value


def _str(ctx: _Ctx, value: Any, path: str, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            ctx.error(path, "is required", f"set {path}")
        return ""
    if not isinstance(value, str):
        ctx.error(path, f"must be a string, got {type(value).__name__}")
        return ""
    return value


def _unknown_keys(ctx: _Ctx, data: dict[str, Any], path: str, known: tuple[str, ...]) -> None:
    # The API server prunes unknown fields silently; a typo ("source:") then means the policy
    # quietly does less than intended, so say so.
    for key in data:
        if key not in known:
            ctx.warn(
                f"{path}.{key}" if path else key,
                "unknown field (ignored by the API server)",
                "known fields: " + ", ".join(known),
            )


def _regex(ctx: _Ctx, value: str, path: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        ctx.error(path, f"invalid regular expression {value!r}: {exc}", "fix the regex")


def _port(ctx: _Ctx, value: Any, path: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        ctx.error(path, f"invalid port {value!r}", "use an integer between 1 and 65535")
        return None
    return value


# -- traffic-access ----------------------------------------------------------------------------


def _subject(ctx: _Ctx, raw: Any, path: str, source: bool) -> IdentityRef | None:
    data = _dict(ctx, raw, path, required=True)
    if not data:
        return None
    kind = data.get("kind", "ServiceAccount")
    if kind != "ServiceAccount":
        ctx.error(f"{path}.kind", f"unsupported subject kind {kind!r}", "use kind: ServiceAccount")
    name = _str(ctx, data.get("name"), f"{path}.name")
    namespace = data.get("namespace") or None
    if source and namespace is None:
        ctx.warn(
            f"{path}.namespace",
            "source has no namespace and will never match (SMI spec)",
            "set the source ServiceAccount's namespace",
        )
    return IdentityRef(name, namespace) if name else None


def _rules(ctx: _Ctx, raw: Any, path: str) -> tuple[Rule, ...]:
    rules = []
    for i, item in enumerate(_list(ctx, raw, path)):
        p = f"{path}[{i}]"
        data = _dict(ctx, item, p)
        kind = _str(ctx, data.get("kind"), f"{p}.kind")
        if kind and kind not in RULE_KINDS:
            ctx.error(f"{p}.kind", f"unknown rule kind {kind!r}", "use " + ", ".join(RULE_KINDS))
        name = _str(ctx, data.get("name"), f"{p}.name")
        matches: tuple[str, ...] | None = None
        if data.get("matches") is not None:
            names = _list(ctx, data["matches"], f"{p}.matches")
            if not all(isinstance(n, str) and n for n in names):
                ctx.error(f"{p}.matches", "match references must be non-empty strings")
            # An empty list behaves like an absent one: all matches of the route.
            matches = tuple(str(n) for n in names) or None
        if kind and name:
            rules.append(Rule(kind, name, matches))
    return tuple(rules)


def _traffic_target(ctx: _Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    if version == "v1alpha1":
        # v1alpha1 has no spec: destination/sources/specs live at the top level.
        spec, base = obj, ""
        rules_key = "specs"
    else:
        spec, base = _dict(ctx, obj.get("spec"), "spec", required=True), "spec."
        rules_key = "rules"
        known = ("destination", "sources", "rules") + (("port",) if version == "v1alpha2" else ())
        _unknown_keys(ctx, spec, "spec", known)
    dest_raw = _dict(ctx, spec.get("destination"), f"{base}destination", required=True)
    destination = _subject(ctx, dest_raw, f"{base}destination", source=False) if dest_raw else None
    port = None
    if version in ("v1alpha1", "v1alpha2") and dest_raw.get("port") is not None:
        port = _port(ctx, dest_raw.get("port"), f"{base}destination.port")
    sources_raw = _list(ctx, spec.get("sources"), f"{base}sources")
    sources = []
    for i, s in enumerate(sources_raw):
        ref = _subject(ctx, s, f"{base}sources[{i}]", source=True)
        if ref:
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


# -- traffic-specs -----------------------------------------------------------------------------


def _headers(ctx: _Ctx, raw: Any, path: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    # The spec prose shows a map; the SDK a list of single-key maps. Accept both.
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or not entry:
                ctx.error(f"{path}[{i}]", "each header must be a `name: regex` mapping")
                continue
            items.extend(entry.items())
    else:
        ctx.error(path, "must be a map of header name to regex (or a list of such maps)")
        return ()
    for key, value in items:
        if not isinstance(key, str) or not key:
            ctx.error(path, f"invalid header name {key!r}")
            continue
        if not isinstance(value, str):
            ctx.error(
                f"{path}.{key}",
                f"header value must be a string regex, got {value!r}",
                "quote the value",
            )
            continue
        _regex(ctx, value, f"{path}.{key}")
        pairs.append((key, value))
    return tuple(pairs)


def _http_match(ctx: _Ctx, raw: Any, path: str, version: str) -> HTTPMatch | None:
    data = _dict(ctx, raw, path)
    _unknown_keys(ctx, data, path, ("name", "pathRegex", "methods", "headers"))
    name = _str(ctx, data.get("name"), f"{path}.name")
    path_regex = data.get("pathRegex")
    if path_regex is not None:
        if not isinstance(path_regex, str):
            ctx.error(f"{path}.pathRegex", "must be a string", "quote the regex")
            path_regex = None
        else:
            _regex(ctx, path_regex, f"{path}.pathRegex")
    methods = []
    for i, m in enumerate(_list(ctx, data.get("methods"), f"{path}.methods")):
        if m not in HTTP_METHODS:
            upper = str(m).upper()
            hint = f"did you mean {upper!r}?" if upper in HTTP_METHODS else ""
            ctx.error(
                f"{path}.methods[{i}]",
                f"invalid method {m!r}",
                hint or "use one of " + ", ".join(HTTP_METHODS),
            )
        else:
            methods.append(m)
    headers: tuple[tuple[str, str], ...] = ()
    if data.get("headers") is not None:
        if version == "v1alpha1":
            ctx.warn(
                f"{path}.headers",
                "headers are not part of specs v1alpha1",
                "use specs.smi-spec.io/v1alpha2 or later",
            )
        headers = _headers(ctx, data["headers"], f"{path}.headers")
    return HTTPMatch(name, path_regex or None, tuple(methods), headers) if name else None


def _matches_raw(ctx: _Ctx, obj: dict[str, Any], version: str) -> tuple[Any, str]:
    if version in ("v1alpha1", "v1alpha2"):
        return obj.get("matches"), "matches"
    spec = _dict(ctx, obj.get("spec"), "spec")
    return spec.get("matches"), "spec.matches"


def _http_route_group(ctx: _Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    raw, path = _matches_raw(ctx, obj, version)
    matches = []
    seen: set[str] = set()
    for i, m in enumerate(_list(ctx, raw, path)):
        match = _http_match(ctx, m, f"{path}[{i}]", version)
        if match is None:
            continue
        if match.name in seen:
            ctx.error(
                f"{path}[{i}].name",
                f"duplicate match name {match.name!r}",
                "give every match a unique name",
            )
        seen.add(match.name)
        matches.append(match)
    if raw is None:
        ctx.warn(
            path, "no matches: rules referencing this group allow nothing", f"add {path} entries"
        )
    return HTTPRouteGroup(ns, name, tuple(matches), ctx.ref.api_version)


def _ports_route(ctx: _Ctx, obj: dict[str, Any], version: str) -> tuple[int, ...]:
    if version != "v1alpha4":
        return ()  # Before v1alpha4 a TCPRoute had no fields: it means every port.
    spec = _dict(ctx, obj.get("spec"), "spec")
    matches = spec.get("matches")
    if isinstance(matches, list):
        ctx.error(
            "spec.matches",
            "must be a mapping with `ports`, not a list",
            "write spec.matches: {ports: [8080]}",
        )
        return ()
    data = _dict(ctx, matches, "spec.matches")
    ports = []
    for i, p in enumerate(_list(ctx, data.get("ports"), "spec.matches.ports")):
        number = _port(ctx, p, f"spec.matches.ports[{i}]")
        if number is not None:
            ports.append(number)
    return tuple(sorted(set(ports)))


def _tcp_route(ctx: _Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    return TCPRoute(ns, name, _ports_route(ctx, obj, version), ctx.ref.api_version)


def _udp_route(ctx: _Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    return UDPRoute(ns, name, _ports_route(ctx, obj, version), ctx.ref.api_version)


# -- traffic-split -----------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity_milli(value: Any) -> int:
    """A Kubernetes quantity in milli-units ("1" -> 1000, "100m" -> 100); ValueError if bad."""
    if isinstance(value, bool):
        raise ValueError(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(value)
    try:
        milli = Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""] * 1000
    except InvalidOperation as exc:
        raise ValueError(value) from exc
    if milli != milli.to_integral_value():
        raise ValueError(value)
    return int(milli)


def _weight(ctx: _Ctx, value: Any, path: str, version: str) -> int | None:
    if value is None:
        ctx.error(path, "is required", "set an integer weight (0 sends no traffic)")
        return None
    if version == "v1alpha1":
        try:
            weight = parse_quantity_milli(value)
        except ValueError:
            ctx.error(
                path,
                f"invalid weight {value!r}",
                'split v1alpha1 weights are quantities such as "1", "500m" or 100',
            )
            return None
    elif isinstance(value, bool) or not isinstance(value, int):
        ctx.error(
            path,
            f"invalid weight {value!r}: must be an integer",
            "use an integer (quantities like '500m' are only valid in split v1alpha1)",
        )
        return None
    else:
        weight = value
    if weight < 0:
        ctx.error(path, f"negative weight {value!r}", "use 0 or a positive integer")
        return None
    return weight


def _traffic_split(ctx: _Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    spec = _dict(ctx, obj.get("spec"), "spec", required=True)
    known = ("service", "backends") + (("matches",) if version in ("v1alpha3", "v1alpha4") else ())
    _unknown_keys(ctx, spec, "spec", known)
    service_fqdn = _str(ctx, spec.get("service"), "spec.service")
    labels = service_fqdn.split(".")
    root = labels[0]
    if len(labels) > 1 and labels[1] != ns:
        ctx.error(
            "spec.service",
            f"root service {service_fqdn!r} is in namespace {labels[1]!r}, "
            f"not the TrafficSplit's namespace {ns!r}",
            f"create the TrafficSplit in namespace {labels[1]!r}",
        )
    backends = []
    seen: set[str] = set()
    raw_backends = _list(ctx, spec.get("backends"), "spec.backends")
    if not raw_backends and "spec" in obj:
        ctx.error(
            "spec.backends",
            "at least one backend is required",
            "add backends: [{service: NAME, weight: N}]",
        )
    for i, item in enumerate(raw_backends):
        p = f"spec.backends[{i}]"
        data = _dict(ctx, item, p)
        svc = _str(ctx, data.get("service"), f"{p}.service")
        weight = _weight(ctx, data.get("weight"), f"{p}.weight", version)
        if svc in seen:
            ctx.error(f"{p}.service", f"backend {svc!r} listed twice", "merge the two entries")
        seen.add(svc)
        if svc and weight is not None:
            backends.append(Backend(svc.split(".")[0], weight))
    if backends and all(b.weight == 0 for b in backends):
        ctx.warn(
            "spec.backends",
            "every backend has weight 0: the split sends no traffic",
            "give at least one backend a positive weight",
        )
    matches = []
    for i, item in enumerate(_list(ctx, spec.get("matches"), "spec.matches")):
        data = _dict(ctx, item, f"spec.matches[{i}]")
        kind = data.get("kind", "HTTPRouteGroup")
        if kind != "HTTPRouteGroup":
            ctx.error(
                f"spec.matches[{i}].kind",
                f"unsupported match kind {kind!r}",
                "use kind: HTTPRouteGroup",
            )
        mname = _str(ctx, data.get("name"), f"spec.matches[{i}].name")
        if mname:
            matches.append(RuleRef("HTTPRouteGroup", mname))
    return TrafficSplit(ns, name, root, tuple(backends), tuple(matches), ctx.ref.api_version)


_PARSERS: dict[str, Callable[[_Ctx, dict[str, Any], str, str, str], Any]] = {
    "TrafficTarget": _traffic_target,
    "HTTPRouteGroup": _http_route_group,
    "TCPRoute": _tcp_route,
    "UDPRoute": _udp_route,
    "TrafficSplit": _traffic_split,
}
