"""Who the inbound RBAC lets in, per port: access v1alpha1/v1alpha2 `destination.port`, the
source's namespace, TCPRoute ports (issue 15 and the mutation testing of osm_mesh/envoy)."""

from __future__ import annotations

import pytest

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.e2e_envoy.harness import (
    deployment,
    mesh_config,
    route_group,
    service,
    service_account,
    traffic_target,
)
from tests.mesh.envoy.test_translate import NS, as_json, proxy_of, tcp_route


def two_port_api(version: str, port: int | None, sources: list[tuple[str, str]]) -> list[dict]:
    """api with two HTTP ports (80 → 8080, 81 → 9090) and one TrafficTarget of ``version``."""
    api = deployment(NS, "api", "api")
    api["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 8080},
        {"containerPort": 9090},
    ]
    svc = service(NS, "api")
    svc["spec"]["ports"] = [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "http-admin", "port": 81, "targetPort": 9090},
    ]
    tt = traffic_target(NS, "api", "api", [], "routes")
    tt["apiVersion"] = f"access.smi-spec.io/{version}"
    tt["spec"]["sources"] = [
        {"kind": "ServiceAccount", "name": n, "namespace": s} for s, n in sources
    ]
    if port is not None:
        tt["spec"]["destination"]["port"] = port
    return [
        *(service_account(NS, sa) for sa in ("api", "web")),
        service_account("other", "web"),
        api,
        deployment(NS, "web", "web"),
        deployment("other", "web", "web"),
        svc,
        route_group(NS, "routes", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        tt,
        mesh_config(False),
    ]


def inbound_policies(objs: list[dict]) -> dict[str, dict]:
    """Inbound virtual host name → its RBAC policies, for the api pod."""
    cat = FileSource(objects=objs, monitored="all", pod_ip=lambda *a: "10.1.1.1").snapshot()
    ca = CertificateAuthority.create()
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(), ca.issue(Identity(NS, "api")))
    return {
        v.name: as_json(v.typed_per_filter_config[names.HTTP_RBAC_FILTER])["rbac"]["rules"].get(
            "policies", {}
        )
        for v in res.routes[names.INBOUND_ROUTE].virtual_hosts
    }


@pytest.mark.parametrize("version", ["v1alpha1", "v1alpha2"])
def test_legacy_destination_port_opens_that_port_only(version):
    """access v1alpha1/v1alpha2 `destination.port`: the source may call the service on the
    port whose target is that port, and nothing on the service's other port."""
    objs = two_port_api(version, 8080, [(NS, "web")])
    if version == "v1alpha1":  # no spec: destination, sources and specs at the top level
        tt = objs[-2]
        spec = tt.pop("spec")
        tt.update(destination=spec["destination"], sources=spec["sources"], specs=spec["rules"])
    policies = inbound_policies(objs)
    assert set(policies) == {"inbound|shop/api|80", "inbound|shop/api|81"}
    (policy,) = policies["inbound|shop/api|80"].values()
    assert [p["authenticated"]["principalName"]["exact"] for p in policy["principals"]] == [
        "spiffe://cluster.local/ns/shop/sa/web"
    ]
    assert policies["inbound|shop/api|81"] == {}
    # Without a port the target covers both.
    both = inbound_policies(two_port_api("v1alpha2", None, [(NS, "web")]))
    assert all(len(p) == 1 for p in both.values())


def test_a_source_is_its_namespace_and_name():
    """The same ServiceAccount name in another namespace is another identity: a TrafficTarget
    naming other/web lets other/web in, not shop/web, and the other way round."""
    for allowed, denied in (("other", NS), (NS, "other")):
        policies = inbound_policies(two_port_api("v1alpha3", None, [(allowed, "web")]))
        for vhost_policies in policies.values():
            (policy,) = vhost_policies.values()
            principals = [
                p["authenticated"]["principalName"]["exact"] for p in policy["principals"]
            ]
            assert principals == [f"spiffe://cluster.local/ns/{allowed}/sa/web"]
            assert f"spiffe://cluster.local/ns/{denied}/sa/web" not in principals


def tcp_mesh() -> list[dict]:
    """db with two TCP ports; three TrafficTargets: web on 5432 only (TCPRoute ports), api on
    every port, elsewhere/web on 6379 only (access v1alpha2 destination.port)."""
    db = deployment(NS, "db", "db")
    db["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 5432},
        {"containerPort": 6379},
    ]
    svc = service(NS, "db")
    svc["spec"]["ports"] = [
        {"name": "tcp-pg", "port": 5432, "targetPort": 5432},
        {"name": "tcp-redis", "port": 6379, "targetPort": 6379},
    ]

    def target(name: str, source: tuple[str, str], route: str, port: int | None = None) -> dict:
        tt = traffic_target(NS, name, "db", [], route)
        tt["spec"]["sources"] = [
            {"kind": "ServiceAccount", "name": source[1], "namespace": source[0]}
        ]
        tt["spec"]["rules"] = [{"kind": "TCPRoute", "name": route}]
        if port is not None:
            tt["apiVersion"] = "access.smi-spec.io/v1alpha2"
            tt["spec"]["destination"]["port"] = port
        return tt

    return [
        *(service_account(NS, sa) for sa in ("db", "web", "api")),
        service_account("elsewhere", "web"),
        db,
        svc,
        tcp_route(NS, "pg", [5432]),
        tcp_route(NS, "any", []),
        target("a-web", (NS, "web"), "pg"),
        target("b-api", (NS, "api"), "any"),
        target("c-elsewhere", ("elsewhere", "web"), "any", port=6379),
        mesh_config(False),
    ]


def test_tcp_rbac_per_port_from_tcp_routes_and_destination_ports():
    cat = FileSource(objects=tcp_mesh(), monitored="all", pod_ip=lambda *a: "10.1.1.1").snapshot()
    ca = CertificateAuthority.create()
    res = translate(cat, proxy_of(cat, "db"), TranslateOptions(), ca.issue(Identity(NS, "db")))
    chains = {c["name"]: c for c in as_json(res.listeners[names.INBOUND_LISTENER])["filterChains"]}
    allowed = {}
    for port in (5432, 6379):
        chain = chains[f"inbound-tcp|shop/db|{port}"]
        assert chain["filterChainMatch"] == {"destinationPort": port}
        rbac = chain["filters"][0]["typedConfig"]
        assert rbac["statPrefix"] == f"inbound-tcp-db-{port}."
        policies = rbac["rules"]["policies"]
        for policy in policies.values():
            assert policy["permissions"] == [{"any": True}]
        allowed[port] = {
            name: [p["authenticated"]["principalName"]["exact"] for p in policy["principals"]]
            for name, policy in policies.items()
        }
    td = "spiffe://cluster.local"
    assert allowed[5432] == {
        "000:TrafficTarget/shop/a-web": [f"{td}/ns/shop/sa/web"],
        "001:TrafficTarget/shop/b-api": [f"{td}/ns/shop/sa/api"],
    }
    assert allowed[6379] == {
        "001:TrafficTarget/shop/b-api": [f"{td}/ns/shop/sa/api"],
        "002:TrafficTarget/shop/c-elsewhere": [f"{td}/ns/elsewhere/sa/web"],
    }


def test_every_inbound_chain_is_mtls_with_rbac_before_anything_else():
    """The inbound listener as Envoy gets it: TLS inspector (and the original destination in
    cluster mode), every chain mutual TLS with the mesh CA and a SPIFFE peer of this trust
    domain, RBAC first on every chain, default-deny HTTP RBAC, the caller's identity passed
    on, requests counted for the pod's workload. (tests/e2e_envoy attacks each on real Envoy;
    this says it at the speed of a unit test.)"""
    cat = FileSource(objects=tcp_mesh(), monitored="all", pod_ip=lambda *a: "10.1.1.1").snapshot()
    ca = CertificateAuthority.create()
    cert = ca.issue(Identity(NS, "db"))
    for mode, filters in (
        (
            "cluster",
            ["envoy.filters.listener.original_dst", "envoy.filters.listener.tls_inspector"],
        ),
        ("local", ["envoy.filters.listener.tls_inspector"]),
    ):
        res = translate(cat, proxy_of(cat, "db"), TranslateOptions(mode=mode), cert)
        listener = as_json(res.listeners[names.INBOUND_LISTENER])
        assert listener["name"] == "inbound-listener"
        address = listener["address"]["socketAddress"]
        assert address["portValue"] == 15003
        assert address["address"] == ("0.0.0.0" if mode == "cluster" else "10.1.1.1")
        assert [f["name"] for f in listener["listenerFilters"]] == filters
        for chain in listener["filterChains"]:
            tls = chain["transportSocket"]["typedConfig"]
            assert tls["requireClientCertificate"] is True, chain["name"]
            common = tls["commonTlsContext"]
            assert common["tlsCertificateSdsSecretConfigs"][0]["name"] == "service-cert"
            validation = common["combinedValidationContext"]
            assert validation["validationContextSdsSecretConfig"]["name"] == "root-cert"
            assert validation["defaultValidationContext"]["matchTypedSubjectAltNames"] == [
                {"sanType": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}
            ]
            assert chain["filters"][0]["name"] in (
                "envoy.filters.network.rbac",
                "envoy.filters.network.http_connection_manager",
            )
            if chain["name"].startswith("inbound-tcp|"):
                assert chain["filters"][1]["typedConfig"]["cluster"].endswith("|local")
        http = next(c for c in listener["filterChains"] if c["name"] == "inbound-http")
        hcm = http["filters"][0]["typedConfig"]
        assert hcm["statPrefix"] == "inbound"
        assert hcm["rds"]["routeConfigName"] == names.INBOUND_ROUTE
        assert [f["name"] for f in hcm["httpFilters"]][:1] == ["envoy.filters.http.rbac"]
        assert hcm["httpFilters"][0]["typedConfig"]["rules"] == {}  # deny unless a route allows
        assert hcm["forwardClientCertDetails"] == "SANITIZE_SET"
        assert hcm["accessLog"], "requests are counted for the pod's workload"
        # Local clusters lead to the app: its own address in local mode, loopback in a pod.
        local = as_json(res.clusters["shop/db|5432|local"])
        endpoint = local["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]
        app = endpoint["address"]["socketAddress"]
        assert app["address"] == ("127.0.0.1" if mode == "cluster" else "10.1.1.1")
        assert app["portValue"] == 5432
