"""Parse and validate SMI objects of every version into ``osm_mesh.smi.model``.

``parse_smi(obj)`` takes one Kubernetes-shaped dict and returns the model object (None when
an error makes it unusable: OSM silently ignored such objects, we drop them *and* report
why) plus the problems found, each naming the object, the field, what is wrong and a fix.
Per-group parsers: ``access`` (TrafficTarget), ``specs`` (HTTPRouteGroup, TCPRoute,
UDPRoute), ``split`` (TrafficSplit); shared field readers in ``fields``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.access import traffic_target
from osm_mesh.smi.fields import Ctx, names_valid, object_header
from osm_mesh.smi.model import (
    ObjectRef,
    Problem,
    SmiObject,
)
from osm_mesh.smi.specs import http_route_group, tcp_route, udp_route
from osm_mesh.smi.split import traffic_split

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
    return group in SMI_GROUPS or str(obj.get("kind", "")) in SUPPORTED


def parse_smi(obj: dict[str, Any]) -> tuple[SmiObject | None, list[Problem]]:
    """Parse one SMI object of any supported version; None when it has errors."""
    api_version, kind, name, namespace = object_header(obj)
    ctx = Ctx(ObjectRef(kind, namespace, name or "<unnamed>", api_version))
    if kind == "TrafficMetrics":
        ctx.info(
            "kind",
            "TrafficMetrics is served by an aggregated API, not a CRD: not checked",
            "",
            codes.NOT_CHECKED,
        )
        return None, ctx.problems
    if kind not in SUPPORTED:
        ctx.error(
            "kind",
            f"unsupported SMI kind {kind!r}",
            "supported: " + ", ".join(SUPPORTED),
            codes.UNSUPPORTED_KIND,
        )
        return None, ctx.problems
    version = api_version.partition("/")[2]
    if api_version not in supported_api_versions(kind):
        ctx.error(
            "apiVersion",
            f"unknown apiVersion {api_version!r} for {kind}",
            "use one of: " + ", ".join(supported_api_versions(kind)),
            codes.UNKNOWN_API_VERSION,
        )
        return None, ctx.problems
    if not names_valid(ctx, name, namespace):
        return None, ctx.problems
    parser = _PARSERS[kind]
    result = parser(ctx, obj, version, namespace, name)
    if ctx.failed:
        return None, ctx.problems
    return result, ctx.problems


_PARSERS: dict[str, Callable[[Ctx, dict[str, Any], str, str, str], Any]] = {
    "TrafficTarget": traffic_target,
    "HTTPRouteGroup": http_route_group,
    "TCPRoute": tcp_route,
    "UDPRoute": udp_route,
    "TrafficSplit": traffic_split,
}
