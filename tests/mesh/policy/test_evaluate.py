"""SMI access semantics (facts/smi.md): default deny, matches, sources, permissive mode."""

from __future__ import annotations

from pathlib import Path

import yaml

from osm_mesh.catalog import Identity, build_catalog
from osm_mesh.catalog.loader import load_paths
from osm_mesh.policy import ALL, PERMISSIVE, allowed_routes, inbound_rules, request_allowed

DATA = Path(__file__).resolve().parents[2] / "data"
WEB, API, DB, OTHER = (Identity("shop", n) for n in ("web", "api", "db", "other"))

BASE = """
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec: {traffic: {enablePermissiveTrafficPolicyMode: false}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: shop}
spec:
  matches:
  - {name: read, pathRegex: /items, methods: [GET]}
  - {name: write, pathRegex: /items, methods: [POST, PUT]}
  - name: admin
    pathRegex: /admin
    methods: ["*"]
    headers: [{x-role: admin}, {x-team: ops|sre}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: pg, namespace: shop}
spec: {matches: {ports: [5432]}}
---
apiVersion: specs.smi-spec.io/v1alpha3
kind: TCPRoute
metadata: {name: anyport, namespace: shop}
"""


def target(name, dest, sources, rules, ns="shop", version="v1alpha3", port=None):
    destination = {"kind": "ServiceAccount", "name": dest, "namespace": ns}
    if port:
        destination["port"] = port
    return {
        "apiVersion": f"access.smi-spec.io/{version}",
        "kind": "TrafficTarget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"destination": destination, "sources": sources, "rules": rules},
    }


def sa(name, ns="shop"):
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def catalog(*targets, permissive=False):
    objects = list(yaml.safe_load_all(BASE))
    objects[0]["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] = permissive
    return build_catalog(objects + list(targets), monitored="all")


def http(c, method, path, headers=None, src=WEB, dst=API):
    return request_allowed(c, src, dst, method=method, path=path, headers=headers)


def test_default_deny_in_smi_mode():
    c = catalog()
    assert inbound_rules(c, API) == []
    assert not allowed_routes(c, WEB, API).allowed
    assert not http(c, "GET", "/items")


def test_named_matches_only():
    c = catalog(
        target(
            "t",
            "api",
            [sa("web")],
            [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["read"]}],
        )
    )
    access = allowed_routes(c, WEB, API)
    assert access.allowed and [m.name for m in access.http] == ["read"]
    assert [str(r) for r in access.traffic_targets] == ["TrafficTarget/shop/t"]
    assert http(c, "GET", "/items/7")
    assert not http(c, "POST", "/items")
    assert not http(c, "GET", "/admin")
    assert not allowed_routes(c, OTHER, API).allowed  # not a source
    assert not allowed_routes(c, WEB, DB).allowed  # other destination


def test_rule_without_matches_allows_every_match_of_the_group():
    c = catalog(target("t", "api", [sa("web")], [{"kind": "HTTPRouteGroup", "name": "routes"}]))
    assert [m.name for m in allowed_routes(c, WEB, API).http] == ["read", "write", "admin"]
    assert http(c, "PUT", "/items")


def test_headers_and_within_a_match_or_across_matches():
    c = catalog(
        target(
            "t",
            "api",
            [sa("web")],
            [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["admin", "read"]}],
        )
    )
    assert http(c, "DELETE", "/admin", {"X-Role": "admin", "x-team": "sre"})
    assert not http(c, "DELETE", "/admin", {"x-role": "admin"})  # AND: x-team missing
    assert not http(c, "DELETE", "/admin", {"x-role": "admin", "x-team": "dev"})
    assert not http(
        c, "DELETE", "/admin", {"x-role": "administrator", "x-team": "ops"}
    )  # full match
    assert http(c, "GET", "/items")  # OR: the other match


def test_sources_without_namespace_never_match():
    c = catalog(
        target(
            "t",
            "api",
            [{"kind": "ServiceAccount", "name": "web"}],
            [{"kind": "HTTPRouteGroup", "name": "routes"}],
        )
    )
    assert not allowed_routes(c, WEB, API).allowed
    assert not allowed_routes(c, Identity("default", "web"), API).allowed


def test_target_in_other_namespace_grants_nothing():
    tt = target("t", "api", [sa("web")], [{"kind": "HTTPRouteGroup", "name": "routes"}])
    tt["metadata"]["namespace"] = "elsewhere"
    c = catalog(tt)
    assert not allowed_routes(c, WEB, API).allowed
    assert any(p.field == "spec.destination.namespace" for p in c.problems)


def test_missing_group_or_match_grants_nothing():
    c = catalog(
        target("a", "api", [sa("web")], [{"kind": "HTTPRouteGroup", "name": "nope"}]),
        target(
            "b",
            "api",
            [sa("web")],
            [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["nope"]}],
        ),
    )
    assert inbound_rules(c, API) == []
    assert not allowed_routes(c, WEB, API).allowed


def test_tcp_routes_ports_and_all_ports():
    c = catalog(
        target("pg", "db", [sa("api")], [{"kind": "TCPRoute", "name": "pg"}]),
        target("any", "db", [sa("web")], [{"kind": "TCPRoute", "name": "anyport"}]),
    )
    assert allowed_routes(c, API, DB).tcp_ports == (5432,)
    assert allowed_routes(c, API, DB).http == ()
    assert request_allowed(c, API, DB, protocol="tcp", port=5432)
    assert not request_allowed(c, API, DB, protocol="tcp", port=5433)
    assert not request_allowed(c, API, DB, method="GET", path="/")  # TCP rules are not HTTP
    assert allowed_routes(c, WEB, DB).tcp_ports is ALL
    assert request_allowed(c, WEB, DB, protocol="tcp", port=1)


def test_multiple_targets_merge():
    c = catalog(
        target(
            "r",
            "api",
            [sa("web")],
            [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["read"]}],
        ),
        target(
            "w",
            "api",
            [sa("web"), sa("other")],
            [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["write"]}],
        ),
    )
    assert [m.name for m in allowed_routes(c, WEB, API).http] == ["read", "write"]
    assert [m.name for m in allowed_routes(c, OTHER, API).http] == ["write"]
    assert len(inbound_rules(c, API)) == 2


def test_v1alpha2_destination_port_restricts():
    c = catalog(
        target(
            "t",
            "api",
            [sa("web")],
            [{"kind": "HTTPRouteGroup", "name": "routes"}],
            version="v1alpha2",
            port=8080,
        )
    )
    assert allowed_routes(c, WEB, API, port=8080).allowed
    assert not allowed_routes(c, WEB, API, port=9090).allowed
    assert inbound_rules(c, API)[0].port == 8080


def test_permissive_mode_ignores_targets():
    c = catalog(permissive=True)
    assert inbound_rules(c, API) == [PERMISSIVE]
    access = allowed_routes(c, OTHER, API)
    assert access.allowed and access.permissive and access.http is ALL
    assert request_allowed(c, OTHER, DB, protocol="tcp", port=1)


def test_article_simple_app():
    c = build_catalog(load_paths([DATA / "article"]).documents)
    frontend = Identity("osm-simple-app", "frontend-service-account")
    api = Identity("osm-simple-app", "api-service-account")
    assert request_allowed(c, frontend, api, method="GET", path="/api/values")
    assert not request_allowed(c, frontend, api, method="GET", path="/")
    assert not request_allowed(c, api, frontend, method="GET", path="/api/values")
    canary_fe = Identity("osm-canary-deployment-sample-app", "frontend-service-account")
    assert not request_allowed(c, canary_fe, api, method="GET", path="/api/values")


def test_a_source_is_its_namespace_and_name():
    """A TrafficTarget naming elsewhere/web lets elsewhere/web in, not shop/web (the same
    ServiceAccount name in the destination's namespace), and the other way round."""
    rules = [{"kind": "HTTPRouteGroup", "name": "routes"}]
    elsewhere = Identity("elsewhere", "web")
    c = catalog(target("t", "api", [sa("web", ns="elsewhere")], rules))
    assert http(c, "GET", "/items", src=elsewhere)
    assert not http(c, "GET", "/items", src=WEB)
    c = catalog(target("t", "api", [sa("web")], rules))
    assert http(c, "GET", "/items", src=WEB)
    assert not http(c, "GET", "/items", src=elsewhere)
    assert not allowed_routes(c, elsewhere, API).allowed


UDP = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: UDPRoute
metadata: {name: dns, namespace: shop}
spec: {matches: {ports: [53]}}
"""


def test_udp_rules_grant_udp_ports_only_and_missing_routes_do_not_stop_the_others():
    rules = [
        {"kind": "UDPRoute", "name": "missing"},
        {"kind": "TCPRoute", "name": "missing"},
        {"kind": "HTTPRouteGroup", "name": "missing"},
        {"kind": "UDPRoute", "name": "dns"},
        {"kind": "TCPRoute", "name": "pg"},
        {"kind": "HTTPRouteGroup", "name": "routes", "matches": ["read"]},
    ]
    c = build_catalog(
        [
            *yaml.safe_load_all(BASE),
            *yaml.safe_load_all(UDP),
            target("t", "db", [sa("web")], rules),
        ],
        monitored="all",
    )
    access = allowed_routes(c, WEB, DB)
    assert access.udp_ports == (53,) and access.tcp_ports == (5432,)
    assert [m.name for m in access.http] == ["read"]
    assert request_allowed(c, WEB, DB, protocol="udp", port=53)
    assert not request_allowed(c, WEB, DB, protocol="udp", port=5432)
    assert not request_allowed(c, WEB, DB, protocol="tcp", port=53)
    assert request_allowed(c, WEB, DB, protocol="tcp", port=5432)
    # gRPC is HTTP/2: judged by the HTTP routes.
    assert request_allowed(c, WEB, DB, protocol="grpc", method="GET", path="/items")
    assert not request_allowed(c, WEB, DB, protocol="grpc", method="POST", path="/items")


def test_a_requests_port_meets_a_legacy_destination_port():
    c = catalog(
        target(
            "t",
            "api",
            [sa("web")],
            [{"kind": "HTTPRouteGroup", "name": "routes"}],
            version="v1alpha2",
            port=8080,
        )
    )
    assert request_allowed(c, WEB, API, port=8080, method="GET", path="/items")
    assert not request_allowed(c, WEB, API, port=9090, method="GET", path="/items")


def test_permissive_access_names_both_ends_and_allows_every_protocol():
    c = catalog(permissive=True)
    access = allowed_routes(c, WEB, DB)
    assert (access.source, access.destination) == (WEB, DB)
    assert access.http is ALL and access.tcp_ports is ALL and access.udp_ports is ALL
    assert request_allowed(c, WEB, DB, protocol="udp", port=9)
