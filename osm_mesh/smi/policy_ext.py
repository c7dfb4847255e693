"""Resilience policies (``policy.openservicemesh.io/v1alpha1``) -> frozen model objects.

Three kinds (docs/resilience.md has the design and samples):

- ``Retry`` -- OSM v1.2's shape, unchanged: ``source`` ServiceAccount, ``destinations``
  Services, ``retryPolicy{retryOn, perTryTimeout, numRetries, retryBackoffBaseInterval}``.
- ``UpstreamTrafficSetting`` -- OSM v1.2's shape (``host``, ``connectionSettings`` for circuit
  breaking; ``rateLimit`` is accepted but not enforced) plus *our* extension fields:
  ``requestTimeout``, ``httpRoutes[].requestTimeout`` and ``outlierDetection``.
- ``FaultInjection`` -- ours (OSM had none): ``host``, optional ``sources``, ``abort`` and/or
  ``delay`` each with a ``percentage``.

``parse_policy(obj)`` returns ``(model | None, problems)`` like ``osm_mesh.smi.parse.parse_smi``:
an object with an error is dropped whole and the problem says what to fix. The model classes
live in ``osm_mesh.smi.policy_model``.
Durations are Go durations ("250ms", "1m30s") read as float seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.fields import (
    Ctx,
    check_regex,
    mapping,
    names_valid,
    object_header,
    seq,
    text,
    unknown_keys,
)
from osm_mesh.smi.model import IdentityRef, ObjectRef, Problem
from osm_mesh.smi.policy_model import (
    Abort,
    ConnectionSettings,
    Delay,
    FaultInjection,
    OutlierDetection,
    PolicyObject,
    Retry,
    RetryPolicy,
    RouteSetting,
    ServiceRef,
    UpstreamTrafficSetting,
)
from osm_mesh.validation import dns1123_label_problem

POLICY_GROUP = "policy.openservicemesh.io"
POLICY_VERSIONS = ("v1alpha1",)
POLICY_KINDS = ("Retry", "UpstreamTrafficSetting", "FaultInjection")
# Envoy's router retry conditions (x-envoy-retry-on and x-envoy-retry-grpc-on).
RETRY_ON = (
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
)
UINT32_MAX = 2**32 - 1
# For sources that list them from a cluster (osm_mesh.catalog.kube, kube_watch).
POLICY_PLURALS = {
    "Retry": "retries",
    "UpstreamTrafficSetting": "upstreamtrafficsettings",
    "FaultInjection": "faultinjections",
}
POLICY_SUPPORTED: dict[str, tuple[str, tuple[str, ...]]] = {
    kind: (POLICY_GROUP, POLICY_VERSIONS) for kind in POLICY_KINDS
}


# -- field readers -------------------------------------------------------------------------------
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(value: str) -> float:
    """A Go duration ("250ms", "1.5s", "1m30s", "0") in seconds; ValueError when invalid."""
    value = value.strip()
    if value == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(value):
        if m.start() != pos:
            raise ValueError(value)
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(value) or pos == 0:
        raise ValueError(value)
    return total


def _duration(
    ctx: Ctx, data: dict[str, Any], key: str, path: str, *, positive: bool = True
) -> float | None:
    raw = data.get(key)
    if raw is None or raw == "":
        return None
    try:
        if isinstance(raw, bool) or not isinstance(raw, str):
            raise ValueError(raw)
        seconds = parse_go_duration(raw)
    except ValueError:
        ctx.error(
            path, f"invalid duration {raw!r}", 'use a Go duration such as "250ms", "2s" or "1m"'
        )
        return None
    if positive and seconds <= 0:
        ctx.error(path, f"duration {raw!r} must be greater than zero", 'e.g. "1s"')
        return None
    return seconds


def _uint(
    ctx: Ctx, data: dict[str, Any], key: str, path: str, low: int = 0, high: int = UINT32_MAX
) -> int | None:
    raw = data.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        ctx.error(path, f"invalid value {raw!r}", f"use an integer from {low} to {high}")
        return None
    return raw


def _percentage(ctx: Ctx, data: dict[str, Any], path: str) -> float | None:
    raw = data.get("percentage", 100)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 100:
        ctx.error(
            f"{path}.percentage",
            f"invalid percentage {raw!r}",
            "use a number from 0 to 100 (fractions such as 0.5 are fine)",
        )
        return None
    return float(raw)


def _host_service(ctx: Ctx, data: dict[str, Any], namespace: str) -> str:
    """``spec.host`` -> the Service name: ``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]``."""
    host = text(ctx, data.get("host"), "spec.host")
    if not host:
        return ""
    labels = host.split(".")
    hint = f"use <service>.{namespace}.svc.cluster.local (a Service in namespace {namespace!r})"
    if len(labels) > 1 and labels[1] != namespace:
        ctx.error(
            "spec.host",
            f"host {host!r} is in namespace {labels[1]!r}, "
            f"not the policy's namespace {namespace!r}",
            f"create the policy in namespace {labels[1]!r}",
        )
        return ""
    if len(labels) > 2 and ".".join(labels[2:]) not in ("svc", "svc.cluster.local"):
        ctx.error("spec.host", f"host {host!r} is not a Kubernetes Service name", hint)
        return ""
    problem = dns1123_label_problem(labels[0])
    if problem:
        ctx.error("spec.host", f"invalid service name {labels[0]!r}: {problem}", hint)
        return ""
    return labels[0]


def _subject(ctx: Ctx, raw: Any, path: str, kind: str) -> tuple[str, str] | None:
    data = mapping(ctx, raw, path, required=True)
    if not data:
        return None
    unknown_keys(ctx, data, path, ("kind", "name", "namespace"))
    found = data.get("kind", kind)
    if found != kind:
        ctx.error(f"{path}.kind", f"unsupported kind {found!r}", f"use kind: {kind}")
        return None
    name = text(ctx, data.get("name"), f"{path}.name")
    namespace = text(ctx, data.get("namespace"), f"{path}.namespace")
    if not (name and namespace):
        return None
    return namespace, name


# -- kinds ---------------------------------------------------------------------------------------
def _retry(ctx: Ctx, spec: dict[str, Any], ns: str, name: str) -> Retry | None:
    unknown_keys(ctx, spec, "spec", ("source", "destinations", "retryPolicy"))
    source = _subject(ctx, spec.get("source"), "spec.source", "ServiceAccount")
    destinations = []
    raw_destinations = seq(ctx, spec.get("destinations"), "spec.destinations")
    if not raw_destinations:
        ctx.error(
            "spec.destinations",
            "at least one destination is required",
            "add destinations: [{kind: Service, name: NAME, namespace: NS}]",
        )
    for i, item in enumerate(raw_destinations):
        dest = _subject(ctx, item, f"spec.destinations[{i}]", "Service")
        if dest is not None:
            destinations.append(ServiceRef(*dest))
    data = mapping(ctx, spec.get("retryPolicy"), "spec.retryPolicy", required=True)
    path = "spec.retryPolicy"
    unknown_keys(
        ctx, data, path, ("retryOn", "perTryTimeout", "numRetries", "retryBackoffBaseInterval")
    )
    conditions: list[str] = []
    codes: list[int] = []
    retry_on = text(ctx, data.get("retryOn"), f"{path}.retryOn")
    for item in (c.strip() for c in retry_on.split(",")) if retry_on else ():
        if item.isdigit() and 100 <= int(item) <= 599:
            codes.append(int(item))
        elif item in RETRY_ON:
            conditions.append(item)
        else:
            ctx.error(
                f"{path}.retryOn",
                f"unknown retry condition {item!r}",
                "use comma-separated Envoy conditions ("
                + ", ".join(RETRY_ON[:8])
                + ", ...) or HTTP status codes such as 503",
            )
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    num = _uint(ctx, data, "numRetries", f"{path}.numRetries", 0, 1000)
    policy = RetryPolicy(
        retry_on=tuple(conditions),
        status_codes=tuple(sorted(set(codes))),
        num_retries=1 if num is None else num,
        per_try_timeout=_duration(ctx, data, "perTryTimeout", f"{path}.perTryTimeout"),
        backoff_base_interval=_duration(
            ctx, data, "retryBackoffBaseInterval", f"{path}.retryBackoffBaseInterval"
        ),
    )
    if source is None or not destinations or ctx.failed:
        return None
    return Retry(
        ns,
        name,
        IdentityRef(source[1], source[0]),
        tuple(destinations),
        policy,
        ctx.ref.api_version,
    )


def _connection_settings(ctx: Ctx, raw: Any) -> ConnectionSettings | None:
    path = "spec.connectionSettings"
    data = mapping(ctx, raw, path)
    if not data:
        return None
    unknown_keys(ctx, data, path, ("tcp", "http"))
    tcp = mapping(ctx, data.get("tcp"), f"{path}.tcp")
    http = mapping(ctx, data.get("http"), f"{path}.http")
    unknown_keys(ctx, tcp, f"{path}.tcp", ("maxConnections", "connectTimeout"))
    unknown_keys(
        ctx,
        http,
        f"{path}.http",
        ("maxRequests", "maxRequestsPerConnection", "maxPendingRequests", "maxRetries"),
    )
    return ConnectionSettings(
        max_connections=_uint(ctx, tcp, "maxConnections", f"{path}.tcp.maxConnections"),
        connect_timeout=_duration(ctx, tcp, "connectTimeout", f"{path}.tcp.connectTimeout"),
        max_requests=_uint(ctx, http, "maxRequests", f"{path}.http.maxRequests"),
        max_requests_per_connection=_uint(
            ctx, http, "maxRequestsPerConnection", f"{path}.http.maxRequestsPerConnection"
        ),
        max_pending_requests=_uint(
            ctx, http, "maxPendingRequests", f"{path}.http.maxPendingRequests"
        ),
        max_retries=_uint(ctx, http, "maxRetries", f"{path}.http.maxRetries"),
    )


def _outlier(ctx: Ctx, raw: Any) -> OutlierDetection | None:
    path = "spec.outlierDetection"
    data = mapping(ctx, raw, path)
    if raw is None:
        return None
    known = ("consecutive5xxErrors", "interval", "baseEjectionTime", "maxEjectionPercent")
    unknown_keys(ctx, data, path, known)
    default = OutlierDetection()
    c5xx = _uint(ctx, data, "consecutive5xxErrors", f"{path}.consecutive5xxErrors", 1, 1000)
    interval = _duration(ctx, data, "interval", f"{path}.interval")
    ejection = _duration(ctx, data, "baseEjectionTime", f"{path}.baseEjectionTime")
    percent = _uint(ctx, data, "maxEjectionPercent", f"{path}.maxEjectionPercent", 0, 100)
    return OutlierDetection(
        consecutive_5xx=default.consecutive_5xx if c5xx is None else c5xx,
        interval=default.interval if interval is None else interval,
        base_ejection_time=default.base_ejection_time if ejection is None else ejection,
        max_ejection_percent=default.max_ejection_percent if percent is None else percent,
    )


def _upstream_traffic_setting(
    ctx: Ctx, spec: dict[str, Any], ns: str, name: str
) -> UpstreamTrafficSetting | None:
    known = ("host", "connectionSettings", "rateLimit", "httpRoutes")
    ours = ("requestTimeout", "outlierDetection")
    unknown_keys(ctx, spec, "spec", known + ours)
    service = _host_service(ctx, spec, ns)
    if spec.get("rateLimit") is not None:
        ctx.warn(
            "spec.rateLimit",
            "rate limiting is not enforced by this mesh (ignored)",
            "remove rateLimit, or enforce limits in the application",
        )
    routes = []
    for i, item in enumerate(seq(ctx, spec.get("httpRoutes"), "spec.httpRoutes")):
        p = f"spec.httpRoutes[{i}]"
        data = mapping(ctx, item, p)
        unknown_keys(ctx, data, p, ("path", "rateLimit", "requestTimeout"))
        route_path = text(ctx, data.get("path"), f"{p}.path")
        if route_path:
            check_regex(ctx, route_path, f"{p}.path", sent_as=f"(?:{route_path}).*")
        if data.get("rateLimit") is not None:
            ctx.warn(
                f"{p}.rateLimit",
                "rate limiting is not enforced by this mesh (ignored)",
                "remove rateLimit",
            )
        timeout = _duration(ctx, data, "requestTimeout", f"{p}.requestTimeout", positive=False)
        if route_path:
            routes.append(RouteSetting(route_path, timeout))
    setting = UpstreamTrafficSetting(
        ns,
        name,
        service,
        connection=_connection_settings(ctx, spec.get("connectionSettings")),
        request_timeout=_duration(
            ctx, spec, "requestTimeout", "spec.requestTimeout", positive=False
        ),
        routes=tuple(routes),
        outlier_detection=_outlier(ctx, spec.get("outlierDetection")),
        api_version=ctx.ref.api_version,
    )
    return None if ctx.failed or not service else setting


def _fault_injection(ctx: Ctx, spec: dict[str, Any], ns: str, name: str) -> FaultInjection | None:
    unknown_keys(ctx, spec, "spec", ("host", "sources", "abort", "delay"))
    service = _host_service(ctx, spec, ns)
    sources = []
    for i, item in enumerate(seq(ctx, spec.get("sources"), "spec.sources")):
        subject = _subject(ctx, item, f"spec.sources[{i}]", "ServiceAccount")
        if subject is not None:
            sources.append(IdentityRef(subject[1], subject[0]))
    abort = delay = None
    if spec.get("abort") is not None:
        data = mapping(ctx, spec["abort"], "spec.abort")
        unknown_keys(ctx, data, "spec.abort", ("httpStatus", "percentage"))
        status = data.get("httpStatus")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            ctx.error(
                "spec.abort.httpStatus",
                f"invalid HTTP status {status!r}",
                "use a status code from 200 to 599, e.g. 503",
            )
        percent = _percentage(ctx, data, "spec.abort")
        if isinstance(status, int) and percent is not None:
            abort = Abort(status, percent)
    if spec.get("delay") is not None:
        data = mapping(ctx, spec["delay"], "spec.delay")
        unknown_keys(ctx, data, "spec.delay", ("fixedDelay", "percentage"))
        seconds = _duration(ctx, data, "fixedDelay", "spec.delay.fixedDelay")
        # A null or "" fixedDelay is missing too: accepted, the delay would inject nothing.
        if data.get("fixedDelay") in (None, ""):
            ctx.error("spec.delay.fixedDelay", "is required", 'set e.g. fixedDelay: "200ms"')
        percent = _percentage(ctx, data, "spec.delay")
        if seconds is not None and percent is not None:
            delay = Delay(seconds, percent)
    if spec.get("abort") is None and spec.get("delay") is None:
        ctx.error(
            "spec",
            "neither abort nor delay is set: the policy injects nothing",
            "add abort: {httpStatus: 503, percentage: 10} and/or delay: "
            '{fixedDelay: "1s", percentage: 10}',
        )
    if ctx.failed or not service:
        return None
    return FaultInjection(ns, name, service, tuple(sources), abort, delay, ctx.ref.api_version)


_PARSERS: dict[str, Callable[[Ctx, dict[str, Any], str, str], PolicyObject | None]] = {
    "Retry": _retry,
    "UpstreamTrafficSetting": _upstream_traffic_setting,
    "FaultInjection": _fault_injection,
}


def is_policy(obj: dict[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).split("/", 1)[0] == POLICY_GROUP


def parse_policy(obj: dict[str, Any]) -> tuple[PolicyObject | None, list[Problem]]:
    """Parse one ``policy.openservicemesh.io`` object; None when it has errors or is not ours.

    Kinds of the group this mesh does not act on (Egress, IngressBackend, ...) yield an
    ``info`` problem and None.
    """
    api_version, kind, name, namespace = object_header(obj)
    ctx = Ctx(ObjectRef(kind, namespace, name or "<unnamed>", api_version))
    if kind not in _PARSERS:
        ctx.info(
            "kind",
            f"{kind} is not acted on by this mesh (ignored)",
            "supported policy kinds: " + ", ".join(POLICY_KINDS),
            codes.NOT_CHECKED,
        )
        return None, ctx.problems
    supported = [f"{POLICY_GROUP}/{v}" for v in POLICY_VERSIONS]
    if api_version not in supported:
        ctx.error(
            "apiVersion",
            f"unknown apiVersion {api_version!r} for {kind}",
            "use " + ", ".join(supported),
            codes.UNKNOWN_API_VERSION,
        )
        return None, ctx.problems
    if not names_valid(ctx, name, namespace):
        return None, ctx.problems
    spec = mapping(ctx, obj.get("spec"), "spec", required=True)
    if not spec and not ctx.failed:
        ctx.error("spec", "is empty", f"see docs/resilience.md for {kind}'s fields")
    result = _PARSERS[kind](ctx, spec, namespace, name) if spec else None
    if ctx.failed:
        return None, ctx.problems
    return result, ctx.problems
