"""What a user reads when a resilience policy is wrong: every problem's field, message and fix.

`osm policy lint` prints each problem as ``<field>: <message>`` plus ``fix: <hint>`` and its
code, so the whole list is pinned here: a wrong path, a lost hint, a doubled or missing
problem would all mislead the user. The valid samples and the model they yield are in
tests/mesh/resilience/test_parse.py; these are the ways to get them wrong.
"""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.catalog.build import build_catalog
from osm_mesh.smi import codes
from osm_mesh.smi.envoy_regex import envoy_regex_problem
from osm_mesh.smi.policy_ext import parse_policy
from tests.mesh.resilience.test_parse import (
    DELETE,
    FAULT,
    OSM_RETRY,
    OSM_UTS,
    changed,
    with_spec,
)
from tests.mesh.smi.problems import Seen as Found
from tests.mesh.smi.problems import error, seen
from tests.mesh.smi.problems import unknown as unknown_field

GO_DURATION_HINT = 'use a Go duration such as "250ms", "2s" or "1m"'
RETRY_ON_HINT = (
    "use comma-separated Envoy conditions (5xx, gateway-error, reset, reset-before-request, "
    "connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, ...) "
    "or HTTP status codes such as 503"
)
HTTP_STATUS_HINT = "use a status code from 200 to 599, e.g. 503"
UINT32_HINT = "use an integer from 0 to 4294967295"


def unknown(field: str, *known: str) -> Found:
    return unknown_field(field, ", ".join(known))


def not_mapping(field: str) -> Found:
    return error(field, "must be a mapping, got str", f"write {field} as key: value pairs")


def not_list(field: str) -> Found:
    return error(field, "must be a list, got str", f"write {field} as a list")


def required(field: str) -> Found:
    return error(field, "is required", f"set {field}")


def bad_duration(field: str, raw: str) -> Found:
    return error(field, f"invalid duration {raw!r}", GO_DURATION_HINT)


def problems_of(obj: dict[str, Any]) -> tuple[Any, list[Found]]:
    result, problems = parse_policy(obj)
    return result, seen(problems)


SOURCE = OSM_RETRY["spec"]["source"]
RETRY_POLICY_FIELDS = ("retryOn", "perTryTimeout", "numRetries", "retryBackoffBaseInterval")
HTTP_LIMITS = ("maxRequests", "maxRequestsPerConnection", "maxPendingRequests", "maxRetries")
OUTLIER_FIELDS = ("consecutive5xxErrors", "interval", "baseEjectionTime", "maxEjectionPercent")

# Objects dropped whole, with every problem they produce, in order.
REFUSED = {
    "retry without source": (
        changed(OSM_RETRY, "spec.source", DELETE),
        [error("spec.source", "is required", "add spec.source")],
    ),
    "retry source not a mapping": (
        changed(OSM_RETRY, "spec.source", "bookbuyer"),
        [not_mapping("spec.source")],
    ),
    "retry source without name": (
        changed(OSM_RETRY, "spec.source.name", DELETE),
        [required("spec.source.name")],
    ),
    "retry destinations not a list": (
        changed(OSM_RETRY, "spec.destinations", "bookstore"),
        [
            not_list("spec.destinations"),
            error(
                "spec.destinations",
                "at least one destination is required",
                "add destinations: [{kind: Service, name: NAME, namespace: NS}]",
            ),
        ],
    ),
    "retry without retryPolicy": (
        changed(OSM_RETRY, "spec.retryPolicy", DELETE),
        [
            error("spec.retryPolicy", "is required", "add spec.retryPolicy"),
            required("spec.retryPolicy.retryOn"),
        ],
    ),
    "retry on an unknown condition": (
        changed(OSM_RETRY, "spec.retryPolicy.retryOn", "5xx,teapot"),
        [error("spec.retryPolicy.retryOn", "unknown retry condition 'teapot'", RETRY_ON_HINT)],
    ),
    "retry on status 600": (
        changed(OSM_RETRY, "spec.retryPolicy.retryOn", "600"),
        [error("spec.retryPolicy.retryOn", "unknown retry condition '600'", RETRY_ON_HINT)],
    ),
    "retry 1001 times": (
        changed(OSM_RETRY, "spec.retryPolicy.numRetries", 1001),
        [
            error(
                "spec.retryPolicy.numRetries",
                "invalid value 1001",
                "use an integer from 0 to 1000",
            )
        ],
    ),
    "retry backoff not a duration": (
        changed(OSM_RETRY, "spec.retryPolicy.retryBackoffBaseInterval", "soon"),
        [bad_duration("spec.retryPolicy.retryBackoffBaseInterval", "soon")],
    ),
    "retry per-try timeout zero": (
        changed(OSM_RETRY, "spec.retryPolicy.perTryTimeout", "0s"),
        [
            error(
                "spec.retryPolicy.perTryTimeout",
                "duration '0s' must be greater than zero",
                'e.g. "1s"',
            )
        ],
    ),
    "connectionSettings not a mapping": (
        with_spec(OSM_UTS, connectionSettings="x"),
        [not_mapping("spec.connectionSettings")],
    ),
    "tcp and http not mappings": (
        with_spec(OSM_UTS, connectionSettings={"tcp": "x", "http": "y"}),
        [not_mapping("spec.connectionSettings.tcp"), not_mapping("spec.connectionSettings.http")],
    ),
    "every connection setting invalid": (
        with_spec(
            OSM_UTS,
            connectionSettings={
                "tcp": {"maxConnections": -1, "connectTimeout": "x"},
                "http": dict.fromkeys(HTTP_LIMITS, -1),
            },
        ),
        [
            error("spec.connectionSettings.tcp.maxConnections", "invalid value -1", UINT32_HINT),
            bad_duration("spec.connectionSettings.tcp.connectTimeout", "x"),
            *(
                error(f"spec.connectionSettings.http.{key}", "invalid value -1", UINT32_HINT)
                for key in HTTP_LIMITS
            ),
        ],
    ),
    "outlierDetection not a mapping": (
        with_spec(OSM_UTS, outlierDetection="x"),
        [not_mapping("spec.outlierDetection")],
    ),
    "every outlier setting invalid": (
        with_spec(
            OSM_UTS,
            outlierDetection={
                "consecutive5xxErrors": 1001,
                "interval": "x",
                "baseEjectionTime": "y",
                "maxEjectionPercent": 101,
            },
        ),
        [
            error(
                "spec.outlierDetection.consecutive5xxErrors",
                "invalid value 1001",
                "use an integer from 1 to 1000",
            ),
            bad_duration("spec.outlierDetection.interval", "x"),
            bad_duration("spec.outlierDetection.baseEjectionTime", "y"),
            error(
                "spec.outlierDetection.maxEjectionPercent",
                "invalid value 101",
                "use an integer from 0 to 100",
            ),
        ],
    ),
    "httpRoutes not a list": (
        with_spec(OSM_UTS, httpRoutes="x"),
        [not_list("spec.httpRoutes")],
    ),
    "route not a mapping": (
        with_spec(OSM_UTS, httpRoutes=["x"]),
        [not_mapping("spec.httpRoutes[0]"), required("spec.httpRoutes[0].path")],
    ),
    "route timeout not a duration": (
        with_spec(OSM_UTS, httpRoutes=[{"path": "/a", "requestTimeout": "x"}]),
        [bad_duration("spec.httpRoutes[0].requestTimeout", "x")],
    ),
    "request timeout not a duration": (
        with_spec(OSM_UTS, requestTimeout="x"),
        [bad_duration("spec.requestTimeout", "x")],
    ),
    "host with an unknown third label": (
        changed(FAULT, "spec.host", "api.shop.pod"),
        [
            error(
                "spec.host",
                "host 'api.shop.pod' is not a Kubernetes Service name",
                "use <service>.shop.svc.cluster.local (a Service in namespace 'shop')",
            )
        ],
    ),
    "fault sources not a list": (
        changed(FAULT, "spec.sources", "web"),
        [not_list("spec.sources")],
    ),
    "abort not a mapping": (
        changed(FAULT, "spec.abort", "x"),
        [
            not_mapping("spec.abort"),
            error("spec.abort.httpStatus", "invalid HTTP status None", HTTP_STATUS_HINT),
        ],
    ),
    "abort with status 600": (
        changed(FAULT, "spec.abort.httpStatus", 600),
        [error("spec.abort.httpStatus", "invalid HTTP status 600", HTTP_STATUS_HINT)],
    ),
    "delay not a mapping": (
        changed(FAULT, "spec.delay", "x"),
        [
            not_mapping("spec.delay"),
            error("spec.delay.fixedDelay", "is required", 'set e.g. fixedDelay: "200ms"'),
        ],
    ),
    # A null or empty fixedDelay is missing, not a delay that injects nothing.
    **{
        f"delay with fixedDelay {raw!r}": (
            changed(changed(FAULT, "spec.abort", DELETE), "spec.delay.fixedDelay", raw),
            [error("spec.delay.fixedDelay", "is required", 'set e.g. fixedDelay: "200ms"')],
        )
        for raw in (None, "")
    },
    # The invalid value is reported once, not also as missing.
    "delay not a duration": (
        changed(FAULT, "spec.delay.fixedDelay", "soon"),
        [bad_duration("spec.delay.fixedDelay", "soon")],
    ),
    "delay percentage over 100": (
        changed(FAULT, "spec.delay", {"fixedDelay": "1s", "percentage": 200}),
        [
            error(
                "spec.delay.percentage",
                "invalid percentage 200",
                "use a number from 0 to 100 (fractions such as 0.5 are fine)",
            )
        ],
    ),
    "fault injecting nothing": (
        changed(changed(FAULT, "spec.abort", DELETE), "spec.delay", DELETE),
        [
            error(
                "spec",
                "neither abort nor delay is set: the policy injects nothing",
                'add abort: {httpStatus: 503, percentage: 10} and/or delay: {fixedDelay: "1s", '
                "percentage: 10}",
            )
        ],
    ),
    "unknown apiVersion": (
        changed(OSM_UTS, "apiVersion", "policy.openservicemesh.io/v1"),
        [
            error(
                "apiVersion",
                "unknown apiVersion 'policy.openservicemesh.io/v1' for UpstreamTrafficSetting",
                "use policy.openservicemesh.io/v1alpha1",
                codes.UNKNOWN_API_VERSION,
            )
        ],
    ),
    "no spec": (
        changed(OSM_RETRY, "spec", DELETE),
        [error("spec", "is required", "add spec")],
    ),
    "empty spec": (
        changed(OSM_RETRY, "spec", {}),
        [error("spec", "is empty", "see docs/resilience.md for Retry's fields")],
    ),
}


@pytest.mark.parametrize("obj, expected", REFUSED.values(), ids=REFUSED.keys())
def test_refused_with_every_problem_in_place(obj, expected):
    result, found = problems_of(obj)
    assert result is None
    assert found == expected


RATE_LIMIT = {"local": {"http": {"requests": 10, "unit": "second"}}}
# Objects kept (the typo'd or ignored field aside), with the warnings they produce.
WARNED = {
    "typo in retry spec": (
        with_spec(OSM_RETRY, sourse=SOURCE),
        [unknown("spec.sourse", "source", "destinations", "retryPolicy")],
    ),
    "typo in retry source": (
        changed(OSM_RETRY, "spec.source.nmae", "x"),
        [unknown("spec.source.nmae", "kind", "name", "namespace")],
    ),
    "typo in retryPolicy": (
        changed(OSM_RETRY, "spec.retryPolicy.numRetry", 2),
        [unknown("spec.retryPolicy.numRetry", *RETRY_POLICY_FIELDS)],
    ),
    "typo in connectionSettings": (
        with_spec(OSM_UTS, connectionSettings={"tcpp": {}}),
        [unknown("spec.connectionSettings.tcpp", "tcp", "http")],
    ),
    "typos in tcp and http": (
        with_spec(OSM_UTS, connectionSettings={"tcp": {"maxConn": 1}, "http": {"maxReq": 1}}),
        [
            unknown("spec.connectionSettings.tcp.maxConn", "maxConnections", "connectTimeout"),
            unknown("spec.connectionSettings.http.maxReq", *HTTP_LIMITS),
        ],
    ),
    "typo in outlierDetection": (
        with_spec(OSM_UTS, outlierDetection={"interval_": "1s"}),
        [unknown("spec.outlierDetection.interval_", *OUTLIER_FIELDS)],
    ),
    "typo in a route": (
        with_spec(OSM_UTS, httpRoutes=[{"path": "/a", "timeout": "1s"}]),
        [unknown("spec.httpRoutes[0].timeout", "path", "rateLimit", "requestTimeout")],
    ),
    # rateLimit is a known field (no "unknown field" warning) that this mesh does not enforce.
    "rate limits": (
        with_spec(OSM_UTS, rateLimit=RATE_LIMIT, httpRoutes=[{"path": "/a", "rateLimit": {}}]),
        [
            (
                "warning",
                "spec.rateLimit",
                "rate limiting is not enforced by this mesh (ignored)",
                "remove rateLimit, or enforce limits in the application",
                codes.INEFFECTIVE_FIELD.id,
            ),
            (
                "warning",
                "spec.httpRoutes[0].rateLimit",
                "rate limiting is not enforced by this mesh (ignored)",
                "remove rateLimit",
                codes.INEFFECTIVE_FIELD.id,
            ),
        ],
    ),
    "typo in fault spec": (
        with_spec(FAULT, sorces=[]),
        [unknown("spec.sorces", "host", "sources", "abort", "delay")],
    ),
    "typos in abort and delay": (
        with_spec(
            FAULT,
            abort={"httpStatus": 503, "percent": 5},
            delay={"fixedDelay": "1s", "percent": 5},
        ),
        [
            unknown("spec.abort.percent", "httpStatus", "percentage"),
            unknown("spec.delay.percent", "fixedDelay", "percentage"),
        ],
    ),
    "policy kind this mesh does not act on": (
        {"apiVersion": OSM_RETRY["apiVersion"], "kind": "Egress", "metadata": {"name": "e"}},
        [
            (
                "info",
                "kind",
                "Egress is not acted on by this mesh (ignored)",
                "supported policy kinds: Retry, UpstreamTrafficSetting, FaultInjection",
                codes.NOT_CHECKED.id,
            )
        ],
    ),
}


@pytest.mark.parametrize("obj, expected", WARNED.values(), ids=WARNED.keys())
def test_warned_about_exactly(obj, expected):
    result, found = problems_of(obj)
    assert found == expected
    assert (result is None) == (obj["kind"] == "Egress")


def test_route_path_is_checked_as_the_regex_envoy_receives():
    # Short enough on its own, but Envoy receives "(?:<path>).*", whose RE2 program is over
    # Envoy's limit: the policy must be refused here rather than NACKed by every proxy.
    path = "/" + "a" * 89
    assert envoy_regex_problem(path) is None
    result, found = problems_of(with_spec(OSM_UTS, httpRoutes=[{"path": path}]))
    assert result is None
    [(severity, field, message, hint, code)] = found
    assert (severity, field, code) == ("error", "spec.httpRoutes[0].path", codes.INVALID_REGEX.id)
    assert hint == "shorten it, or split it into several matches"
    assert message.startswith(f"regular expression {path!r} would be refused by Envoy")


def test_a_policy_without_name_is_named_unnamed_in_its_problem():
    result, problems = parse_policy(changed(OSM_RETRY, "metadata.name", DELETE))
    assert result is None
    assert [str(p) for p in problems] == ["Retry/bookbuyer/<unnamed> metadata.name: missing name"]


def test_any_version_suffix_of_the_policy_group_is_claimed_and_refused():
    # An apiVersion of the policy group with a bad version is this parser's to refuse (with
    # the reason), not left to fall through as some unknown object.
    odd = changed(OSM_RETRY, "apiVersion", "policy.openservicemesh.io/v1alpha1/extra")
    catalog = build_catalog([odd], monitored="all")
    assert catalog.retries == ()
    assert [(p.field, p.message) for p in catalog.problems] == [
        ("apiVersion", "unknown apiVersion 'policy.openservicemesh.io/v1alpha1/extra' for Retry")
    ]
