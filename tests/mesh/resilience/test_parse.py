"""Parsing Retry / UpstreamTrafficSetting / FaultInjection into the model, and their errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from osm_mesh.catalog.build import build_catalog
from osm_mesh.smi.model import IdentityRef
from osm_mesh.smi.policy_ext import (
    Abort,
    ConnectionSettings,
    Delay,
    FaultInjection,
    OutlierDetection,
    Retry,
    RetryPolicy,
    RouteSetting,
    ServiceRef,
    UpstreamTrafficSetting,
    parse_go_duration,
    parse_policy,
)

POLICY = "policy.openservicemesh.io/v1alpha1"

# OSM v1.2's documented Retry sample (docs: traffic_management/retry), verbatim.
OSM_RETRY = {
    "kind": "Retry",
    "apiVersion": POLICY,
    "metadata": {"name": "retry", "namespace": "bookbuyer"},
    "spec": {
        "source": {"kind": "ServiceAccount", "name": "bookbuyer", "namespace": "bookbuyer"},
        "destinations": [
            {"kind": "Service", "name": "bookstore", "namespace": "bookstore-v1"},
            {"kind": "Service", "name": "bookstore", "namespace": "bookstore-v2"},
        ],
        "retryPolicy": {
            "retryOn": "5xx",
            "perTryTimeout": "3s",
            "numRetries": 3,
            "retryBackoffBaseInterval": "1s",
        },
    },
}
# OSM v1.2's circuit-breaking sample shape.
OSM_UTS = {
    "apiVersion": POLICY,
    "kind": "UpstreamTrafficSetting",
    "metadata": {"name": "httpbin", "namespace": "httpbin"},
    "spec": {
        "host": "httpbin.httpbin.svc.cluster.local",
        "connectionSettings": {
            "tcp": {"maxConnections": 1, "connectTimeout": "2s"},
            "http": {
                "maxPendingRequests": 1,
                "maxRequestsPerConnection": 1,
                "maxRequests": 3,
                "maxRetries": 4,
            },
        },
    },
}
FAULT = {
    "apiVersion": POLICY,
    "kind": "FaultInjection",
    "metadata": {"name": "chaos", "namespace": "shop"},
    "spec": {
        "host": "api",
        "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
        "abort": {"httpStatus": 503, "percentage": 12.5},
        "delay": {"fixedDelay": "1.5s"},
    },
}


def parsed(obj: dict[str, Any]) -> Any:
    result, problems = parse_policy(obj)
    assert result is not None, problems
    assert [p for p in problems if p.severity != "info"] == []
    return result


def errors(obj: dict[str, Any]) -> list[tuple[str, str]]:
    result, problems = parse_policy(obj)
    found = [(p.field, p.message) for p in problems if p.severity == "error"]
    assert result is None and found, problems
    assert all(p.hint for p in problems if p.severity == "error")
    return found


def with_spec(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A copy of ``base`` with these spec fields set (several at once, where ``changed`` sets
    one path)."""
    obj = copy.deepcopy(base)
    obj["spec"].update(fields)
    return obj


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = obj
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return obj


DELETE = object()


def test_osm_retry_sample():
    assert parsed(OSM_RETRY) == Retry(
        "bookbuyer",
        "retry",
        IdentityRef("bookbuyer", "bookbuyer"),
        (ServiceRef("bookstore-v1", "bookstore"), ServiceRef("bookstore-v2", "bookstore")),
        RetryPolicy(("5xx",), (), 3, 3.0, 1.0),
    )
    assert parsed(OSM_RETRY).policy == RetryPolicy(("5xx",), (), 3, 3.0, 1.0)


def test_retry_on_status_codes_and_conditions():
    obj = changed(OSM_RETRY, "spec.retryPolicy.retryOn", "5xx, 409,retriable-4xx,503")
    assert parsed(obj).policy.retry_on == ("5xx", "retriable-4xx", "retriable-status-codes")
    assert parsed(obj).policy.status_codes == (409, 503)


def test_retry_optional_fields_default():
    obj = changed(OSM_RETRY, "spec.retryPolicy", {"retryOn": "gateway-error"})
    assert parsed(obj).policy == RetryPolicy(("gateway-error",), (), 1, None, None)


def test_osm_upstream_traffic_setting_sample():
    assert parsed(OSM_UTS) == UpstreamTrafficSetting(
        "httpbin",
        "httpbin",
        "httpbin",
        connection=ConnectionSettings(1, 2.0, 3, 1, 1, 4),
    )
    assert parsed(OSM_UTS).connection == ConnectionSettings(1, 2.0, 3, 1, 1, 4)


def test_upstream_traffic_setting_extensions():
    obj = copy.deepcopy(OSM_UTS)
    obj["spec"].update(
        requestTimeout="250ms",
        httpRoutes=[{"path": "/slow", "requestTimeout": "1m30s"}, {"path": "/plain"}],
        outlierDetection={"consecutive5xxErrors": 2, "baseEjectionTime": "5s"},
    )
    uts = parsed(obj)
    assert uts.request_timeout == 0.25
    assert uts.routes == (RouteSetting("/slow", 90.0), RouteSetting("/plain", None))
    assert uts.outlier_detection == OutlierDetection(2, 10.0, 5.0, 10)


@pytest.mark.parametrize("host", ["api", "api.shop", "api.shop.svc", "api.shop.svc.cluster.local"])
def test_host_forms(host):
    obj = changed(FAULT, "spec.host", host)
    assert parsed(obj).service == "api"


def test_fault_injection():
    assert parsed(FAULT) == FaultInjection(
        "shop",
        "chaos",
        "api",
        (IdentityRef("web", "shop"),),
        Abort(503, 12.5),
        Delay(1.5, 100.0),
    )
    fault = parsed(FAULT)
    assert (fault.abort, fault.delay) == (Abort(503, 12.5), Delay(1.5, 100.0))
    assert fault.applies_to("shop", "web") and not fault.applies_to("other", "web")
    everyone = parsed(changed(FAULT, "spec.sources", DELETE))
    assert everyone.applies_to("any", "thing")


@pytest.mark.parametrize(
    "obj, field, text",
    [
        (changed(FAULT, "spec.host", "api.other.svc.cluster.local"), "spec.host", "namespace"),
        (changed(FAULT, "spec.host", "api.shop.example.com"), "spec.host", "not a Kubernetes"),
        (changed(FAULT, "spec.host", "Api"), "spec.host", "invalid service name"),
        (changed(FAULT, "spec.abort.httpStatus", 99), "spec.abort.httpStatus", "invalid HTTP"),
        (changed(FAULT, "spec.abort.httpStatus", "503"), "spec.abort.httpStatus", "invalid"),
        (changed(FAULT, "spec.abort.percentage", 101), "spec.abort.percentage", "invalid"),
        (changed(FAULT, "spec.abort.percentage", True), "spec.abort.percentage", "invalid"),
        (changed(FAULT, "spec.delay.fixedDelay", "1 s"), "spec.delay.fixedDelay", "duration"),
        (changed(FAULT, "spec.delay.fixedDelay", DELETE), "spec.delay.fixedDelay", "required"),
        (changed(changed(FAULT, "spec.abort", DELETE), "spec.delay", DELETE), "spec", "neither"),
        (
            changed(FAULT, "spec.sources", [{"kind": "User", "name": "x", "namespace": "shop"}]),
            "spec.sources[0].kind",
            "unsupported kind",
        ),
        (
            changed(OSM_RETRY, "spec.retryPolicy.retryOn", "5xx,teapot"),
            "spec.retryPolicy.retryOn",
            "unknown retry condition 'teapot'",
        ),
        (
            changed(OSM_RETRY, "spec.retryPolicy.retryOn", ""),
            "spec.retryPolicy.retryOn",
            "required",
        ),
        (
            changed(OSM_RETRY, "spec.retryPolicy.numRetries", -1),
            "spec.retryPolicy.numRetries",
            "invalid value",
        ),
        (
            changed(OSM_RETRY, "spec.retryPolicy.perTryTimeout", "0s"),
            "spec.retryPolicy.perTryTimeout",
            "greater than zero",
        ),
        (changed(OSM_RETRY, "spec.destinations", []), "spec.destinations", "at least one"),
        (
            changed(OSM_RETRY, "spec.destinations.0.kind", "ServiceAccount"),
            "spec.destinations[0].kind",
            "unsupported kind 'ServiceAccount'",
        ),
        (changed(OSM_RETRY, "spec.source.namespace", DELETE), "spec.source.namespace", "required"),
        (
            changed(OSM_UTS, "spec.connectionSettings.tcp.maxConnections", 2**32),
            "spec.connectionSettings.tcp.maxConnections",
            "invalid value",
        ),
        (changed(OSM_UTS, "spec.host", DELETE), "spec.host", "required"),
        (
            changed(OSM_UTS, "spec.httpRoutes", [{"path": "(?=x)"}]),
            "spec.httpRoutes[0].path",
            "RE2",
        ),
        (
            changed(OSM_UTS, "spec.outlierDetection", {"maxEjectionPercent": 150}),
            "spec.outlierDetection.maxEjectionPercent",
            "invalid value",
        ),
        (
            changed(OSM_UTS, "apiVersion", "policy.openservicemesh.io/v1"),
            "apiVersion",
            "unknown apiVersion",
        ),
        (changed(OSM_UTS, "metadata.name", "Bad_Name"), "metadata.name", "invalid name"),
    ],
)
def test_invalid(obj, field, text):
    found = errors(obj)
    assert any(f == field and text in m for f, m in found), found


def test_warnings_for_rate_limits_and_typos():
    obj = copy.deepcopy(OSM_UTS)
    obj["spec"]["rateLimit"] = {"local": {"http": {"requests": 10, "unit": "second"}}}
    obj["spec"]["requestTimout"] = "1s"
    result, problems = parse_policy(obj)
    assert result is not None
    warned = {(p.field, p.severity) for p in problems}
    assert ("spec.rateLimit", "warning") in warned
    assert ("spec.requestTimout", "warning") in warned


def test_other_policy_kinds_are_info_only():
    egress = {"apiVersion": POLICY, "kind": "Egress", "metadata": {"name": "e"}, "spec": {}}
    result, problems = parse_policy(egress)
    assert result is None
    assert [(p.severity, p.field) for p in problems] == [("info", "kind")]


@pytest.mark.parametrize(
    "text, seconds",
    [("0", 0.0), ("250ms", 0.25), ("1.5s", 1.5), ("1m30s", 90.0), ("2h", 7200.0), ("10us", 1e-5)],
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "-1s", "1s 2s", "1.2.3s"])
def test_bad_go_durations(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_catalog_keeps_policies_of_monitored_namespaces_with_problems_placed():
    broken = changed(FAULT, "spec.abort.httpStatus", 7)
    other_ns = changed(changed(OSM_UTS, "metadata.namespace", "elsewhere"), "spec.host", "httpbin")
    catalog = build_catalog(
        [OSM_RETRY, OSM_UTS, other_ns, FAULT, broken], monitored=["bookbuyer", "httpbin", "shop"]
    )
    assert [r.name for r in catalog.retries] == ["retry"]
    assert [u.namespace for u in catalog.upstream_traffic_settings] == ["httpbin"]
    # The broken redefinition of "chaos" is dropped; the valid one stays.
    assert [f.name for f in catalog.fault_injections] == ["chaos"]
    assert any(p.field == "spec.abort.httpStatus" for p in catalog.problems)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += _paths(child, (*prefix, i))
    return out


@pytest.mark.parametrize("base", [OSM_RETRY, OSM_UTS, FAULT], ids=lambda o: o["kind"])
def test_any_wrong_type_anywhere_is_a_problem_not_a_crash(base):
    base = copy.deepcopy(base)
    base["spec"]["httpRoutes"] = [{"path": "/a", "requestTimeout": "1s"}]
    base["spec"]["outlierDetection"] = {"interval": "1s"}
    for path in _paths(base):
        for junk in (None, 7, -1.5, "x", "", [], {}, True, [1], {"a": 1}):
            obj = copy.deepcopy(base)
            node = obj
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = junk
            result, problems = parse_policy(obj)  # must not raise
            assert result is not None or problems, (path, junk)
            build_catalog([obj], monitored="all")
