"""traffic-split: TrafficSplit v1alpha1 (quantity weights) .. v1alpha4 (matches)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from osm_mesh.smi.fields import Ctx, mapping, seq, text, unknown_keys
from osm_mesh.smi.model import (
    Backend,
    RuleRef,
    TrafficSplit,
)
from osm_mesh.validation import dns1123_label_problem

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


def _weight(ctx: Ctx, value: Any, path: str, version: str) -> int | None:
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


def traffic_split(ctx: Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    spec = mapping(ctx, obj.get("spec"), "spec", required=True)
    known = ("service", "backends") + (("matches",) if version in ("v1alpha3", "v1alpha4") else ())
    unknown_keys(ctx, spec, "spec", known)
    service_fqdn = text(ctx, spec.get("service"), "spec.service")
    labels = service_fqdn.split(".")
    root = labels[0]
    if root and dns1123_label_problem(root):
        ctx.error(
            "spec.service",
            f"invalid root service {service_fqdn!r}: {dns1123_label_problem(root)}",
            "name a Service: <name> or <name>.<namespace>[.svc.cluster.local]",
        )
    if len(labels) > 1 and labels[1] != ns:
        ctx.error(
            "spec.service",
            f"root service {service_fqdn!r} is in namespace {labels[1]!r}, "
            f"not the TrafficSplit's namespace {ns!r}",
            f"create the TrafficSplit in namespace {labels[1]!r}",
        )
    backends = []
    seen: set[str] = set()
    raw_backends = seq(ctx, spec.get("backends"), "spec.backends")
    if not raw_backends and "spec" in obj:
        ctx.error(
            "spec.backends",
            "at least one backend is required",
            "add backends: [{service: NAME, weight: N}]",
        )
    for i, item in enumerate(raw_backends):
        p = f"spec.backends[{i}]"
        data = mapping(ctx, item, p)
        svc = text(ctx, data.get("service"), f"{p}.service")
        weight = _weight(ctx, data.get("weight"), f"{p}.weight", version)
        # A backend is a Service of the split's namespace: "<name>" or its FQDN.
        svc_labels = svc.split(".")
        if svc and dns1123_label_problem(svc_labels[0]):
            ctx.error(
                f"{p}.service",
                f"invalid backend service {svc!r}: {dns1123_label_problem(svc_labels[0])}",
                "name a Service in the TrafficSplit's namespace",
            )
        if len(svc_labels) > 1 and svc_labels[1] != ns:
            # Read as "<name>" it would send the share to another Service than the one named.
            ctx.error(
                f"{p}.service",
                f"backend service {svc!r} is in namespace {svc_labels[1]!r}, "
                f"not the TrafficSplit's namespace {ns!r}",
                "name a Service in the TrafficSplit's namespace",
            )
        if svc_labels[0] in seen:
            ctx.error(f"{p}.service", f"backend {svc!r} listed twice", "merge the two entries")
        seen.add(svc_labels[0])
        if svc and weight is not None:
            backends.append(Backend(svc_labels[0], weight))
    if backends and all(b.weight == 0 for b in backends):
        ctx.warn(
            "spec.backends",
            "every backend has weight 0: the split sends no traffic",
            "give at least one backend a positive weight",
        )
    matches = []
    for i, item in enumerate(seq(ctx, spec.get("matches"), "spec.matches")):
        data = mapping(ctx, item, f"spec.matches[{i}]")
        kind = data.get("kind", "HTTPRouteGroup")
        if kind != "HTTPRouteGroup":
            ctx.error(
                f"spec.matches[{i}].kind",
                f"unsupported match kind {kind!r}",
                "use kind: HTTPRouteGroup",
            )
        mname = text(ctx, data.get("name"), f"spec.matches[{i}].name")
        if mname:
            matches.append(RuleRef("HTTPRouteGroup", mname))
    return TrafficSplit(ns, name, root, tuple(backends), tuple(matches), ctx.ref.api_version)
