"""Resilience policies in the translated Envoy resources, compared by value (as JSON)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from osm_mesh.catalog import FileSource
from osm_mesh.envoy import names
from osm_mesh.envoy.resilience import FAULT_FILTER_NAME
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, translate
from tests.e2e_envoy.harness import (
    deployment,
    mesh_config,
    route_group,
    service,
    service_account,
    traffic_split,
    traffic_target,
)

NS = "shop"
POLICY = "policy.openservicemesh.io/v1alpha1"
API_CLUSTER = f"{NS}/api|80"
API_VHOST = f"{NS}/api|80"


def base_objects(permissive: bool = False) -> list[dict[str, Any]]:
    return [
        *(service_account(NS, sa) for sa in ("api", "web", "admin", "v2")),
        deployment(NS, "api", "api"),
        deployment(NS, "api-v2", "v2"),
        deployment(NS, "web", "web"),
        deployment(NS, "admin", "admin"),
        service(NS, "api"),
        service(NS, "api-v2"),
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        traffic_target(NS, "api", "api", ["web", "admin"], "all"),
        traffic_target(NS, "v2", "v2", ["web", "admin"], "all"),
        mesh_config(permissive),
    ]


def retry(source: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": POLICY,
        "kind": "Retry",
        "metadata": {"name": "r", "namespace": NS},
        "spec": {
            "source": {"kind": "ServiceAccount", "name": source, "namespace": NS},
            "destinations": [{"kind": "Service", "name": "api", "namespace": NS}],
            "retryPolicy": {
                "retryOn": "5xx,409",
                "perTryTimeout": "2s",
                "numRetries": 4,
                "retryBackoffBaseInterval": "50ms",
            },
        },
    }


def uts(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": POLICY,
        "kind": "UpstreamTrafficSetting",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"host": "api", **spec},
    }


def fault(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": POLICY,
        "kind": "FaultInjection",
        "metadata": {"name": "f", "namespace": NS},
        "spec": {"host": f"api.{NS}.svc.cluster.local", **spec},
    }


def resources(extra: list[dict[str, Any]], proxy: str = "web", permissive: bool = False):
    ips = iter(f"10.0.0.{i}" for i in range(1, 100))
    source = FileSource(
        objects=[*base_objects(permissive), *extra], monitored="all", pod_ip=lambda *a: next(ips)
    )
    catalog = source.snapshot()
    assert not [p for p in catalog.problems if p.severity == "error"], catalog.problems
    pod = next(p for p in catalog.pods if p.deployment == proxy)
    return translate(catalog, ProxyIdentity(pod.proxy_uuid or "", pod.identity), TranslateOptions())


def js(msg: Any) -> dict[str, Any]:
    return json_format.MessageToDict(msg)


def vhost(res, name: str = API_VHOST) -> dict[str, Any]:
    route = js(res.routes[names.OUTBOUND_ROUTE])
    return next(v for v in route["virtualHosts"] if v["name"] == name)


def cluster(res, name: str = API_CLUSTER) -> dict[str, Any]:
    return js(res.clusters[name])


def test_no_policies_nothing_added():
    res = resources([])
    assert "circuitBreakers" not in cluster(res) and "outlierDetection" not in cluster(res)
    host = vhost(res)
    assert "typedPerFilterConfig" not in host
    assert [r["route"].get("retryPolicy") for r in host["routes"]] == [None]
    assert host["routes"][0]["route"]["timeout"] == "15s"


def test_outbound_listener_has_a_no_op_fault_filter_before_the_router():
    res = resources([])
    listener = js(res.listeners[names.OUTBOUND_LISTENER])
    hcm = listener["filterChains"][-1]["filters"][0]["typedConfig"]
    assert [f["name"] for f in hcm["httpFilters"]] == [
        FAULT_FILTER_NAME,
        "envoy.filters.http.router",
    ]
    assert hcm["httpFilters"][0]["typedConfig"] == {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    }


def test_retry_policy_for_its_source_only():
    expected = {
        "retryOn": "5xx,retriable-status-codes",
        "numRetries": 4,
        "perTryTimeout": "2s",
        "retriableStatusCodes": [409],
        "retryBackOff": {"baseInterval": "0.050s"},
    }
    web = vhost(resources([retry("web")], "web"))
    assert [r["route"]["retryPolicy"] for r in web["routes"]] == [expected]
    admin = vhost(resources([retry("web")], "admin"))
    assert "retryPolicy" not in admin["routes"][0]["route"]


def test_retry_source_specific_in_permissive_mode_too():
    # Permissive mode shares one outbound table per namespace; a Retry must split it.
    web = vhost(resources([retry("web")], "web", permissive=True))
    admin = vhost(resources([retry("web")], "admin", permissive=True))
    assert "retryPolicy" in web["routes"][0]["route"]
    assert "retryPolicy" not in admin["routes"][0]["route"]


def test_circuit_breakers_connect_timeout_and_outlier_detection():
    res = resources(
        [
            uts(
                {
                    "connectionSettings": {
                        "tcp": {"maxConnections": 10, "connectTimeout": "3s"},
                        "http": {
                            "maxPendingRequests": 5,
                            "maxRequests": 20,
                            "maxRetries": 2,
                            "maxRequestsPerConnection": 7,
                        },
                    },
                    "outlierDetection": {"consecutive5xxErrors": 3, "interval": "1s"},
                }
            )
        ]
    )
    c = cluster(res)
    assert c["circuitBreakers"] == {
        "thresholds": [
            {
                "maxConnections": 10,
                "maxPendingRequests": 5,
                "maxRequests": 20,
                "maxRetries": 2,
                "trackRemaining": True,
            }
        ]
    }
    assert c["connectTimeout"] == "3s"
    assert c["outlierDetection"] == {
        "consecutive5xx": 3,
        "interval": "1s",
        "baseEjectionTime": "30s",
        "maxEjectionPercent": 10,
        "enforcingSuccessRate": 0,
    }
    options = c["typedExtensionProtocolOptions"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["commonHttpProtocolOptions"] == {"maxRequestsPerConnection": 7}
    assert "httpProtocolOptions" in options["explicitHttpConfig"]  # HTTP/1.1 kept
    # Other services' clusters are untouched.
    assert "circuitBreakers" not in cluster(res, f"{NS}/api-v2|80")


def test_timeouts_host_and_per_path_on_both_sides():
    setting = uts(
        {
            "requestTimeout": "500ms",
            "httpRoutes": [
                {"path": "/reports", "requestTimeout": "30s"},
                {"path": "/rate-limited-only"},
            ],
        }
    )
    host = vhost(resources([setting]))
    assert [(r["match"], r["route"]["timeout"]) for r in host["routes"]] == [
        ({"safeRegex": {"regex": "(?:/reports).*"}}, "30s"),
        ({"prefix": "/"}, "0.500s"),
    ]
    # The api's own inbound route must not cut the 30 s requests at the default 15 s.
    api = resources([setting], "api")
    inbound = js(api.routes[names.INBOUND_ROUTE])["virtualHosts"][0]
    assert inbound["routes"][0]["route"]["timeout"] == "30s"


def test_per_path_timeouts_keep_split_backends():
    # The root listed as a backend is dropped: everything goes to api-v2.
    split = traffic_split(NS, "split", "api", {"api": 50, "api-v2": 50})
    host = vhost(resources([split, uts({"httpRoutes": [{"path": "/x", "requestTimeout": "1s"}]})]))
    first, last = host["routes"]
    assert first["match"] == {"safeRegex": {"regex": "(?:/x).*"}}
    assert first["route"] == {"cluster": f"{NS}/api-v2|80", "timeout": "1s"}
    assert last["route"] == {"cluster": f"{NS}/api-v2|80", "timeout": "15s"}


def test_fault_injection_per_route_config():
    res = resources(
        [
            fault(
                {
                    "abort": {"httpStatus": 503, "percentage": 0.5},
                    "delay": {"fixedDelay": "200ms", "percentage": 25},
                }
            )
        ]
    )
    config = vhost(res)["typedPerFilterConfig"][FAULT_FILTER_NAME]
    assert config == {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "abort": {
            "httpStatus": 503,
            "percentage": {"numerator": 5000, "denominator": "MILLION"},
        },
        "delay": {
            "fixedDelay": "0.200s",
            "percentage": {"numerator": 250000, "denominator": "MILLION"},
        },
    }
    # Only the faulty service's virtual host.
    assert "typedPerFilterConfig" not in vhost(res, f"{NS}/api-v2|80")


def test_fault_injection_sources():
    sources = [{"kind": "ServiceAccount", "name": "admin", "namespace": NS}]
    policy = fault({"sources": sources, "abort": {"httpStatus": 500}})
    assert "typedPerFilterConfig" not in vhost(resources([policy], "web"))
    assert FAULT_FILTER_NAME in vhost(resources([policy], "admin"))["typedPerFilterConfig"]


def test_first_policy_by_name_wins():
    second = uts({"requestTimeout": "9s"})
    second["metadata"]["name"] = "zz-later"
    host = vhost(resources([uts({"requestTimeout": "1s"}), second]))
    assert host["routes"][0]["route"]["timeout"] == "1s"
