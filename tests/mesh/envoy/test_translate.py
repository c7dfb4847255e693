"""The translation by value: names, host forms, RBAC, splits, modes, determinism."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import json_format

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, host_domains, translate
from osm_mesh.xds.cache import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET
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


def tcp_service(ns: str, name: str, port: int) -> dict:
    svc = service(ns, name)
    svc["spec"]["ports"] = [{"name": "tcp-db", "port": port, "targetPort": 8080}]
    return svc


def tcp_route(ns: str, name: str, ports: list[int]) -> dict:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "TCPRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"matches": {"ports": ports}},
    }


def objects(permissive: bool = False, egress: bool = False) -> list[dict]:
    tt_db = traffic_target(NS, "db", "db", ["api"], "db-route")
    tt_db["spec"]["rules"] = [{"kind": "TCPRoute", "name": "db-route"}]
    return [
        *(service_account(NS, sa) for sa in ("api", "web", "db", "v2")),
        deployment(NS, "api", "api"),
        deployment(NS, "api-v2", "v2"),
        deployment(NS, "web", "web"),
        deployment(NS, "db", "db"),
        service(NS, "api"),
        service(NS, "api-v2"),
        service(NS, "web"),
        tcp_service(NS, "db", 5432),
        route_group(
            NS,
            "routes",
            [
                {"name": "read", "pathRegex": "/api/.*", "methods": ["GET", "HEAD"]},
                {"name": "h", "pathRegex": ".*", "methods": ["*"], "headers": [{"x-a": "b.*"}]},
            ],
        ),
        tcp_route(NS, "db-route", [8080]),
        traffic_target(NS, "api", "api", ["web"], "routes", matches=["read"]),
        traffic_target(NS, "v2", "v2", ["web"], "routes"),
        tt_db,
        traffic_split(NS, "split", "api", {"api": 0, "api-v2": 100}),
        with_egress(mesh_config(permissive), egress),
    ]


def with_egress(config: dict, egress: bool) -> dict:
    config["spec"]["traffic"]["enableEgress"] = egress
    return config


def catalog(permissive: bool = False, egress: bool = False):
    ips = iter(f"10.0.0.{i}" for i in range(1, 100))
    source = FileSource(
        objects=objects(permissive, egress), monitored="all", pod_ip=lambda *a: next(ips)
    )
    return source.snapshot()


@pytest.fixture(scope="module")
def cert():
    ca = CertificateAuthority.create()
    return ca.issue(Identity(NS, "web"), validity=dt.timedelta(hours=1))


def proxy_of(cat, deployment_name: str) -> ProxyIdentity:
    pod = next(p for p in cat.pods if p.deployment == deployment_name)
    return ProxyIdentity(pod.proxy_uuid or "", pod.identity)


def as_json(msg) -> dict:
    return json_format.MessageToDict(msg)


def test_same_catalog_same_resources(cert):
    a = translate(catalog(), proxy_of(catalog(), "web"), TranslateOptions(), cert).flat()
    b = translate(catalog(), proxy_of(catalog(), "web"), TranslateOptions(), cert).flat()
    assert list(a) == list(b)
    for type_url in a:
        assert list(a[type_url]) == list(b[type_url])
        for name in a[type_url]:
            assert a[type_url][name].SerializeToString(deterministic=True) == b[type_url][
                name
            ].SerializeToString(deterministic=True)


def test_web_outbound_reaches_allowed_services_only(cert):
    cat = catalog()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    # web is a source for api and v2 (HTTP); db only lets api in.
    assert sorted(res.clusters) == ["shop/api-v2|80", "shop/api|80", "shop/web|80|local"]
    vhosts = {v.name: v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
    assert set(vhosts) == {"shop/api|80", "shop/api-v2|80", "deny-unlisted"}
    assert list(vhosts["shop/api|80"].domains) == host_domains(
        cat.service(NS, "api"), 80, short=True
    )
    # api is the split root: weight 0 backends are dropped, the rest is one cluster.
    route = vhosts["shop/api|80"].routes[0].route
    assert route.cluster == "shop/api-v2|80"
    assert set(res.secrets) == {names.SECRET_SERVICE_CERT, names.SECRET_ROOT_CERT}


def test_host_forms():
    cat = catalog()
    svc = cat.service(NS, "api")
    same = host_domains(svc, 80, short=True)
    assert "api" in same and "api:80" in same and "api.shop.svc.cluster.local" in same
    other = host_domains(svc, 80, short=False)
    assert "api" not in other and "api.shop:80" in other
    assert host_domains(svc, 8080, short=True) == [
        "api:8080",
        "api.shop:8080",
        "api.shop.svc:8080",
        "api.shop.svc.cluster.local:8080",
    ]


def test_inbound_rbac_from_traffic_targets(cert):
    cat = catalog()
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    (vhost,) = res.routes[names.INBOUND_ROUTE].virtual_hosts
    rbac = as_json(vhost.typed_per_filter_config[names.HTTP_RBAC_FILTER])
    policies = rbac["rbac"]["rules"]["policies"]
    assert rbac["rbac"]["rules"].get("action", "ALLOW") == "ALLOW"
    (policy,) = policies.values()
    principal = policy["principals"][0]["authenticated"]["principalName"]["exact"]
    assert principal == "spiffe://cluster.local/ns/shop/sa/web"
    # Only the "read" match: anchored path regex, methods as one regex, AND-ed.
    (perm,) = policy["permissions"]
    rules = perm["andRules"]["rules"]
    assert rules[0]["urlPath"]["path"]["safeRegex"]["regex"] == "(?:/api/.*).*"
    assert rules[1]["header"] == {
        "name": ":method",
        "stringMatch": {"safeRegex": {"regex": "GET|HEAD"}},
    }


def test_rule_without_matches_allows_every_match_with_headers_anded(cert):
    cat = catalog()
    res = translate(cat, proxy_of(cat, "api-v2"), TranslateOptions(), cert)
    (vhost,) = res.routes[names.INBOUND_ROUTE].virtual_hosts
    (policy,) = as_json(vhost.typed_per_filter_config[names.HTTP_RBAC_FILTER])["rbac"]["rules"][
        "policies"
    ].values()
    assert len(policy["permissions"]) == 2  # both matches of the group
    header_rule = policy["permissions"][1]
    assert header_rule == {
        "header": {"name": "x-a", "stringMatch": {"safeRegex": {"regex": "b.*"}}}
    }


def test_tcp_inbound_chain_with_network_rbac(cert):
    cat = catalog()
    local = translate(cat, proxy_of(cat, "db"), TranslateOptions(mode="local"), cert)
    listener = as_json(local.listeners[names.INBOUND_LISTENER])
    chains = {c["name"]: c for c in listener["filterChains"]}
    tcp = chains["inbound-tcp|shop/db|5432"]
    assert tcp["filterChainMatch"] == {"serverNames": ["tcp-5432.db.shop.svc.cluster.local"]}
    rbac = tcp["filters"][0]["typedConfig"]["rules"]["policies"]
    (policy,) = rbac.values()
    assert policy["principals"][0]["authenticated"]["principalName"]["exact"].endswith("/sa/api")
    cluster_mode = translate(cat, proxy_of(cat, "db"), TranslateOptions(), cert)
    chains = as_json(cluster_mode.listeners[names.INBOUND_LISTENER])["filterChains"]
    assert chains[0]["filterChainMatch"] == {"destinationPort": 8080}


def test_modes_differ_in_addresses_and_endpoints(cert):
    cat = catalog()
    web = proxy_of(cat, "web")
    api_ip = next(p.ip for p in cat.pods if p.deployment == "api-v2")
    web_ip = next(p.ip for p in cat.pods if p.deployment == "web")
    cluster = translate(cat, web, TranslateOptions(mode="cluster"), cert)
    local = translate(cat, web, TranslateOptions(mode="local"), cert)

    def addr(res, name):
        return as_json(res.listeners[name])["address"]["socketAddress"]

    assert addr(cluster, names.OUTBOUND_LISTENER) == {"address": "0.0.0.0", "portValue": 15001}
    assert addr(local, names.OUTBOUND_LISTENER) == {"address": web_ip, "portValue": 15001}

    def endpoint(res):
        cla = as_json(res.endpoints["shop/api-v2|80"])
        return cla["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]

    assert endpoint(cluster) == {"address": api_ip, "portValue": 8080}
    assert endpoint(local) == {"address": api_ip, "portValue": 15003}
    cluster_filters = as_json(cluster.listeners[names.INBOUND_LISTENER])["listenerFilters"]
    assert cluster_filters[0]["name"] == "envoy.filters.listener.original_dst"
    local_app = as_json(local.clusters["shop/web|80|local"])["loadAssignment"]
    assert local_app["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"] == {
        "address": web_ip,
        "portValue": 8080,
    }


def test_permissive_mode_reaches_everything_and_allows_any_peer(cert):
    cat = catalog(permissive=True)
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhosts = {v.name for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
    assert vhosts == {"shop/api|80", "shop/api-v2|80", "shop/web|80"}  # no deny-all catch
    api = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    (vhost,) = api.routes[names.INBOUND_ROUTE].virtual_hosts
    (policy,) = as_json(vhost.typed_per_filter_config[names.HTTP_RBAC_FILTER])["rbac"]["rules"][
        "policies"
    ].values()
    assert policy == {"permissions": [{"any": True}], "principals": [{"authenticated": {}}]}


def test_upstream_tls_checks_destination_identity(cert):
    cat = catalog()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    tls = as_json(res.clusters["shop/api-v2|80"])["transportSocket"]["typedConfig"]
    assert tls["sni"] == "api-v2.shop.svc.cluster.local"
    ctx = tls["commonTlsContext"]
    assert ctx["tlsCertificateSdsSecretConfigs"][0]["name"] == names.SECRET_SERVICE_CERT
    combined = ctx["combinedValidationContext"]
    assert combined["validationContextSdsSecretConfig"]["name"] == names.SECRET_ROOT_CERT
    assert combined["defaultValidationContext"]["matchTypedSubjectAltNames"] == [
        {"sanType": "URI", "matcher": {"exact": "spiffe://cluster.local/ns/shop/sa/v2"}}
    ]


def test_unknown_proxy_gets_outbound_only_and_a_note(cert):
    cat = catalog()
    res = translate(cat, ProxyIdentity("nope", Identity(NS, "web")), TranslateOptions(), cert)
    assert res.notes and "no pod" in res.notes[0]
    assert list(res.routes[names.INBOUND_ROUTE].virtual_hosts) == []
    local = translate(cat, ProxyIdentity("nope", Identity(NS, "web")), TranslateOptions("local"))
    assert local.listeners == {} and local.secrets == {}


def test_pod_with_other_identity_is_not_used(cert):
    cat = catalog()
    real = proxy_of(cat, "api")
    forged = ProxyIdentity(real.proxy_uuid, Identity(NS, "web"))
    res = translate(cat, forged, TranslateOptions(), cert)
    assert list(res.routes[names.INBOUND_ROUTE].virtual_hosts) == []


def test_types_are_complete(cert):
    cat = catalog()
    by_type = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert).flat()
    assert set(by_type) == {LISTENER, ROUTE, CLUSTER, ENDPOINT, SECRET}
    eds = {n for n, c in by_type[CLUSTER].items() if c.type == c.EDS}
    assert eds == set(by_type[ENDPOINT])  # every EDS cluster has its assignment


def test_cluster_mode_outbound_tcp_by_destination_port(cert):
    cat = catalog()
    api = proxy_of(cat, "api")  # the TCPRoute lets api reach db:5432
    res = translate(cat, api, TranslateOptions(), cert)
    chains = as_json(res.listeners[names.OUTBOUND_LISTENER])["filterChains"]
    assert chains[0]["filterChainMatch"] == {"destinationPort": 5432}
    assert chains[0]["filters"][0]["typedConfig"]["cluster"] == "shop/db|5432"
    tls = as_json(res.clusters["shop/db|5432"])["transportSocket"]["typedConfig"]
    assert tls["sni"] == "tcp-5432.db.shop.svc.cluster.local"
    # Local mode (no iptables): a listener of its own on the caller's address (issue 12.4).
    local = translate(cat, api, TranslateOptions(mode="local"), cert)
    assert "shop/db|5432" in local.clusters
    listener = as_json(local.listeners["outbound-tcp|5432"])
    assert listener["address"]["socketAddress"]["portValue"] == 5432
    assert listener["filterChains"][0]["filters"][0]["typedConfig"]["cluster"] == "shop/db|5432"
    outbound = as_json(local.listeners[names.OUTBOUND_LISTENER])["filterChains"]
    assert [c["name"] for c in outbound] == ["outbound-http"]


def test_egress_passes_unknown_destinations_through_in_cluster_mode(cert):
    cat = catalog(egress=True)
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhosts = {v.name: v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
    assert "deny-unlisted" not in vhosts
    assert vhosts["egress-passthrough"].routes[0].route.cluster == names.PASSTHROUGH_CLUSTER
    assert (
        res.clusters[names.PASSTHROUGH_CLUSTER].type
        == res.clusters[names.PASSTHROUGH_CLUSTER].ORIGINAL_DST
    )
    listener = as_json(res.listeners[names.OUTBOUND_LISTENER])
    assert listener["defaultFilterChain"]["filters"][0]["typedConfig"]["cluster"] == (
        names.PASSTHROUGH_CLUSTER
    )
    http = next(c for c in listener["filterChains"] if c["name"] == "outbound-http")
    assert http["filterChainMatch"]["applicationProtocols"] == ["http/1.0", "http/1.1", "h2c"]
    # Local mode has no original destination: no egress there.
    local = translate(cat, proxy_of(cat, "web"), TranslateOptions(mode="local"), cert)
    assert names.PASSTHROUGH_CLUSTER not in local.clusters


def test_split_backend_answers_to_its_root_names(cert):
    """Requests to the root keep Host api.shop on their way to api-v2: its inbound matches it."""
    cat = catalog()
    res = translate(cat, proxy_of(cat, "api-v2"), TranslateOptions(), cert)
    (vhost,) = res.routes[names.INBOUND_ROUTE].virtual_hosts
    assert "api-v2.shop" in vhost.domains and "api.shop.svc.cluster.local" in vhost.domains
    # api itself (weight 0 in the split) does not get the root's names twice or as a backend.
    api = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    (api_vhost,) = api.routes[names.INBOUND_ROUTE].virtual_hosts
    assert len(set(api_vhost.domains)) == len(api_vhost.domains)


def test_grpc_ports_use_http2_and_no_route_timeout(cert):
    rpc = service(NS, "rpc", app="api")
    rpc["spec"]["ports"] = [{"name": "grpc", "port": 9000, "targetPort": 8080}]
    source = FileSource(
        objects=[*objects(permissive=True), rpc], monitored="all", pod_ip=lambda *a: "10.1.1.1"
    )
    cat = source.snapshot()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhost = next(
        v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts if v.name == "shop/rpc|9000"
    )
    assert vhost.routes[0].route.timeout.ToNanoseconds() == 0
    cluster = as_json(res.clusters["shop/rpc|9000"])
    options = cluster["typedExtensionProtocolOptions"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2ProtocolOptions" in options["explicitHttpConfig"]
    http = as_json(res.clusters["shop/api|80"])["typedExtensionProtocolOptions"]
    assert (
        "httpProtocolOptions"
        in http["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicitHttpConfig"]
    )


@pytest.mark.parametrize("version", ["v1alpha3", "v1alpha4"])
def test_split_matches_split_only_matching_requests(cert, version):
    """split v1alpha3+: only requests matching the referenced HTTPRouteGroup are split (each
    route keeps the group's path, methods and headers); everything else goes to the root."""
    split = traffic_split(NS, "split", "api", {"api-v2": 100})
    split["apiVersion"] = f"split.smi-spec.io/{version}"
    split["spec"]["matches"] = [{"kind": "HTTPRouteGroup", "name": "beta"}]
    beta = route_group(
        NS,
        "beta",
        [
            {
                "name": "beta",
                "pathRegex": "/api/.*",
                "methods": ["GET"],
                "headers": [{"x-beta": "1"}],
            }
        ],
    )
    replaced = [o for o in objects() if o["kind"] != "TrafficSplit"]
    source = FileSource(
        objects=[*replaced, split, beta], monitored="all", pod_ip=lambda *a: "10.1.1.1"
    )
    cat = source.snapshot()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhost = next(
        v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts if v.name == "shop/api|80"
    )
    routes = [as_json(r) for r in vhost.routes]
    assert len(routes) == 2
    split_route, rest = routes
    assert split_route["match"]["safeRegex"]["regex"] == "(?:/api/.*).*"  # anchored at start
    assert {
        h["name"]: h["stringMatch"]["safeRegex"]["regex"] for h in split_route["match"]["headers"]
    } == {
        ":method": "GET",
        "x-beta": "1",
    }
    assert split_route["route"]["cluster"] == "shop/api-v2|80"
    # Requests the group does not match are not split: the root's own cluster, any path.
    assert rest["match"] == {"prefix": "/"}
    assert rest["route"]["cluster"] == "shop/api|80"


def test_http_routes_time_out_after_the_route_timeout(cert):
    cat = catalog()
    for timeout in (15.0, 7.5):
        res = translate(cat, proxy_of(cat, "web"), TranslateOptions(route_timeout=timeout), cert)
        vhosts = {v.name: v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
        assert vhosts["shop/api|80"].routes[0].route.timeout.ToNanoseconds() == timeout * 1e9


def test_caller_of_a_split_backend_may_call_the_root(cert):
    """web may call api-v2 only: api (the root, sending to api-v2) is in its outbound too,
    also behind a split whose root does not exist (listed first)."""
    ghost = traffic_split(NS, "a-ghost", "ghost", {"api-v2": 100})
    only_v2 = [
        o for o in objects() if o["metadata"]["name"] != "api" or o["kind"] != "TrafficTarget"
    ]
    source = FileSource(objects=[*only_v2, ghost], monitored="all", pod_ip=lambda *a: "10.1.1.1")
    cat = source.snapshot()
    assert [s.name for s in cat.traffic_splits] == ["a-ghost", "split"]
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhosts = {v.name: v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
    assert set(vhosts) == {"shop/api|80", "shop/api-v2|80", "deny-unlisted"}
    assert vhosts["shop/api|80"].routes[0].route.cluster == "shop/api-v2|80"
    # The backend still answers to the root's names despite the rootless split before it.
    backend = translate(cat, proxy_of(cat, "api-v2"), TranslateOptions(), cert)
    (vhost,) = backend.routes[names.INBOUND_ROUTE].virtual_hosts
    assert "api.shop.svc.cluster.local" in vhost.domains


def test_udp_service_ports_get_no_outbound_http_or_tcp(cert):
    dns = service(NS, "dns", app="api")
    dns["spec"]["ports"] = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]
    source = FileSource(
        objects=[*objects(permissive=True), dns], monitored="all", pod_ip=lambda *a: "10.1.1.1"
    )
    cat = source.snapshot()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    assert "shop/api|80" in res.clusters
    assert not [name for name in res.clusters if "dns" in name]
    vhosts = [v.name for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts]
    assert not [name for name in vhosts if "dns" in name]
