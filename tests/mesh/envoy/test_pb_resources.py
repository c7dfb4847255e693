"""The Envoy resources in full where only parts were checked (found by mutation testing):
egress's passthrough and its 403 for mesh names, TLS parameters, weighted splits, several
callers in one RBAC principal, an allow-everything route match, HTTP/2 to a gRPC app, an
empty endpoint assignment."""

from __future__ import annotations

import datetime as dt

import pytest

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.e2e_envoy.harness import (
    deployment,
    route_group,
    service,
    traffic_split,
    traffic_target,
)
from tests.mesh.envoy.test_translate import NS, as_json, objects, proxy_of

TYPE = "type.googleapis.com/"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
DENIED_BODY = "RBAC: access denied: no TrafficTarget allows this destination\n"


@pytest.fixture(scope="module")
def cert():
    return CertificateAuthority.create().issue(Identity(NS, "web"), validity=dt.timedelta(hours=1))


def snapshot(objs: list[dict], monitored: object = "all"):
    return FileSource(objects=objs, monitored=monitored, pod_ip=lambda *a: "10.1.1.1").snapshot()


def replaced(kinds: set[str], *extra: dict, permissive: bool = False, egress: bool = False):
    """The shop of test_translate without its objects of ``kinds``, plus ``extra``."""
    kept = [o for o in objects(permissive, egress) if o["kind"] not in kinds]
    return [*kept, *extra]


def test_egress_in_smi_mode_refuses_mesh_names_and_passes_the_rest_through(cert):
    """With egress on and monitored namespaces, a mesh service web may not call gets the
    policy's 403 on every name form of its namespace; any other host goes to its original
    destination through the passthrough cluster (ORIGINAL_DST, the host the app dialled)."""
    cat = snapshot(objects(egress=True), monitored=[NS, "other"])
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(connect_timeout=2.5), cert)
    vhosts = [as_json(v) for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts]
    *_, deny, passthrough = vhosts
    assert deny == {
        "name": "deny-mesh-hosts",
        "domains": [
            "*.other",
            "*.other.svc",
            "*.other.svc.cluster.local",
            "*.shop",
            "*.shop.svc",
            "*.shop.svc.cluster.local",
        ],
        "routes": [
            {
                "match": {"prefix": "/"},
                "directResponse": {"status": 403, "body": {"inlineString": DENIED_BODY}},
            }
        ],
    }
    timeout = as_json(res.routes[names.OUTBOUND_ROUTE].virtual_hosts[0])["routes"][0]["route"][
        "timeout"
    ]
    assert passthrough == {
        "name": "egress-passthrough",
        "domains": ["*"],
        "routes": [
            {
                "match": {"prefix": "/"},
                "route": {"cluster": names.PASSTHROUGH_CLUSTER, "timeout": timeout},
            }
        ],
    }
    assert as_json(res.clusters[names.PASSTHROUGH_CLUSTER]) == {
        "name": names.PASSTHROUGH_CLUSTER,
        "type": "ORIGINAL_DST",
        "lbPolicy": "CLUSTER_PROVIDED",
        "connectTimeout": "2.500s",
    }
    # The egress TCP chain proxies to the same cluster under the TCP proxy's own name.
    default = as_json(res.listeners[names.OUTBOUND_LISTENER])["defaultFilterChain"]
    assert default["filters"] == [
        {
            "name": "envoy.filters.network.tcp_proxy",
            "typedConfig": {
                "@type": TYPE + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "statPrefix": "outbound-egress",
                "cluster": names.PASSTHROUGH_CLUSTER,
            },
        }
    ]


def tls_of(socket: dict) -> dict:
    assert socket["name"] == "envoy.transport_sockets.tls"
    return socket["typedConfig"]


def test_every_mesh_tls_context_refuses_anything_older_than_tls_1_2(cert):
    """Both sides of mesh mTLS: the inbound listener's chains and every outbound cluster
    (HTTP and TCP) set TLS 1.2 as the minimum and offer no ALPN of their own."""
    cat = snapshot(objects())
    contexts = []
    for who in ("api", "db"):
        res = translate(cat, proxy_of(cat, who), TranslateOptions(), cert)
        for chain in as_json(res.listeners[names.INBOUND_LISTENER])["filterChains"]:
            contexts.append(tls_of(chain["transportSocket"])["commonTlsContext"])
        for _name, cluster in res.outbound_clusters.items():
            contexts.append(tls_of(as_json(cluster)["transportSocket"])["commonTlsContext"])
    assert len(contexts) >= 4
    for ctx in contexts:
        assert ctx["tlsParams"] == {"tlsMinimumProtocolVersion": "TLSv1_2"}
        assert "alpnProtocols" not in ctx


def test_outbound_tcp_chains_are_tcp_proxies_to_the_service_cluster(cert):
    cat = snapshot(objects())
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    (tcp, _) = as_json(res.listeners[names.OUTBOUND_LISTENER])["filterChains"]
    assert [(f["name"], f["typedConfig"]["cluster"]) for f in tcp["filters"]] == [
        ("envoy.filters.network.tcp_proxy", "shop/db|5432")
    ]
    local = translate(cat, proxy_of(cat, "api"), TranslateOptions(mode="local"), cert)
    (chain,) = as_json(local.listeners["outbound-tcp|5432"])["filterChains"]
    assert [f["name"] for f in chain["filters"]] == ["envoy.filters.network.tcp_proxy"]


def test_a_split_over_several_backends_weighs_each_cluster(cert):
    split = traffic_split(NS, "split", "api", {"api-v2": 70, "api-v3": 30})
    v3 = [service(NS, "api-v3"), deployment(NS, "api-v3", "v2")]
    cat = snapshot(replaced({"TrafficSplit"}, split, *v3, permissive=True))
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhost = next(
        v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts if v.name == "shop/api|80"
    )
    (route,) = [as_json(r) for r in vhost.routes]
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["weightedClusters"] == {
        "clusters": [
            {"name": "shop/api-v2|80", "weight": 70},
            {"name": "shop/api-v3|80", "weight": 30},
        ]
    }


def test_a_split_match_with_several_methods_matches_any_of_them(cert):
    split = traffic_split(NS, "split", "api", {"api-v2": 100})
    split["apiVersion"] = "split.smi-spec.io/v1alpha4"
    split["spec"]["matches"] = [{"kind": "HTTPRouteGroup", "name": "writes"}]
    writes = route_group(
        NS, "writes", [{"name": "w", "pathRegex": "/w", "methods": ["PUT", "POST"]}]
    )
    cat = snapshot(replaced({"TrafficSplit"}, split, writes))
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhost = next(
        v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts if v.name == "shop/api|80"
    )
    assert as_json(vhost.routes[0])["match"]["headers"] == [
        {"name": ":method", "stringMatch": {"safeRegex": {"regex": "POST|PUT"}}}
    ]


def inbound_policies(res) -> dict:
    (vhost,) = res.routes[names.INBOUND_ROUTE].virtual_hosts
    return as_json(vhost.typed_per_filter_config[names.HTTP_RBAC_FILTER])["rbac"]["rules"][
        "policies"
    ]


def test_several_callers_of_one_target_are_any_of_their_identities(cert):
    """A TrafficTarget with two sources: either caller's URI SAN passes, no other."""
    both = traffic_target(NS, "api", "api", ["web", "v2"], "routes", matches=["read"])
    kinds = {"TrafficTarget"}
    others = [
        o for o in objects() if o["kind"] == "TrafficTarget" and o["metadata"]["name"] != "api"
    ]
    cat = snapshot(replaced(kinds, both, *others))
    (policy,) = inbound_policies(
        translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    ).values()
    (principal,) = policy["principals"]
    ids = [p["authenticated"]["principalName"]["exact"] for p in principal["orIds"]["ids"]]
    assert ids == [
        "spiffe://cluster.local/ns/shop/sa/v2",
        "spiffe://cluster.local/ns/shop/sa/web",
    ]


def test_a_match_of_any_path_and_any_method_allows_every_request_of_its_callers(cert):
    group = route_group(NS, "routes", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}])
    target = traffic_target(NS, "api", "api", ["web"], "routes")
    cat = snapshot(replaced({"HTTPRouteGroup", "TrafficTarget"}, group, target))
    (policy,) = inbound_policies(
        translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    ).values()
    assert policy["permissions"] == [{"any": True}]


def test_a_grpc_app_is_reached_over_http2_by_its_own_sidecar(cert):
    """The inbound side's local cluster speaks HTTP/2 to a gRPC port, HTTP/1 to the rest."""
    rpc = service(NS, "rpc", app="api")
    rpc["spec"]["ports"] = [{"name": "grpc", "port": 9000, "targetPort": 8080}]
    cat = snapshot([*objects(permissive=True), rpc])
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    explicit = {
        name: as_json(c)["typedExtensionProtocolOptions"][HTTP_OPTIONS]["explicitHttpConfig"]
        for name, c in res.local_clusters.items()
    }
    assert explicit == {
        "shop/api|80|local": {"httpProtocolOptions": {}},
        "shop/rpc|9000|local": {"http2ProtocolOptions": {}},
    }


def test_a_service_without_pods_gets_an_assignment_without_localities(cert):
    lonely = service(NS, "lonely")
    cat = snapshot([*objects(permissive=True), lonely])
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    assert as_json(res.endpoints["shop/lonely|80"]) == {"clusterName": "shop/lonely|80"}
    assert as_json(res.endpoints["shop/api|80"])["endpoints"][0]["lbEndpoints"]
