"""One pod's inbound side in detail (inbound.py, found unchecked by mutation testing): which
service ports get a local cluster and a chain, where the app really listens, the names a
virtual host answers to, and the named routes a request's metrics count under.

The ``api`` pod serves two Services and a split root: ``api`` (a UDP port, a gRPC port by a
named container port, HTTP 80, an HTTP port whose named target the pod lacks, TCP by a named
port) and ``api-db2`` (TCP on the same container port as ``api``'s, and another).
"""

from __future__ import annotations

import json
from typing import Literal

import pytest
from google.protobuf import json_format

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.catalog.objects import LOCAL_PORTS_ANNOTATION
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.translate import TranslateOptions, Translator, translate
from tests.e2e_envoy.harness import (
    deployment,
    mesh_config,
    route_group,
    service,
    service_account,
    traffic_split,
    traffic_target,
)
from tests.mesh.envoy.envoy_rules import answer, violations
from tests.mesh.envoy.test_translate import NS, proxy_of
from tests.mesh.envoy.test_translator_inherit import cert_of, proxies_of, step, wire

POD_IP = "10.1.1.1"
CA = CertificateAuthority.create()


def _service(name: str, selector: str, *ports: dict) -> dict:
    svc = service(NS, name, app=selector)
    svc["spec"]["ports"] = list(ports)
    return svc


def _target(name: str, source: str, matches: list[str], port: int | None = None) -> dict:
    tt = traffic_target(NS, name, "api", [source], "routes", matches=matches)
    if port is not None:  # access v1alpha2's destination.port: that target port only
        tt["apiVersion"] = "access.smi-spec.io/v1alpha2"
        tt["spec"]["destination"]["port"] = port
    return tt


def objects(split: bool = True) -> list[dict]:
    api = deployment(NS, "api", "api")
    template = api["spec"]["template"]
    # The local runtime moved the app's 8080 to 18080: only local mode may follow that.
    template["metadata"]["annotations"] = {LOCAL_PORTS_ANNOTATION: json.dumps({"8080": 18080})}
    template["spec"]["containers"][0]["ports"] = [
        {"containerPort": 8080},
        {"name": "rpc", "containerPort": 9090},
        {"name": "db", "containerPort": 5432},
        {"containerPort": 6379},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    return [
        *(service_account(NS, sa) for sa in ("api", "client", "admin")),
        api,
        deployment(NS, "client", "client"),
        deployment(NS, "admin", "admin"),
        _service(
            "api",
            "api",
            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
            {"name": "grpc-rpc", "port": 9090, "targetPort": "rpc"},
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "http-missing", "port": 81, "targetPort": "no-such-port"},
            {"name": "tcp-db", "port": 5432, "targetPort": "db"},
        ),
        _service(
            "api-db2",
            "api",
            {"name": "tcp-db", "port": 15432, "targetPort": "db"},
            {"name": "tcp-redis", "port": 6379, "targetPort": 6379},
        ),
        _service("api-root", "nothing", {"name": "http", "port": 80, "targetPort": 8080}),
        *([traffic_split(NS, "split", "api-root", {"api": 100})] if split else []),
        route_group(
            NS,
            "routes",
            [
                {"name": "read", "pathRegex": "/api/.*", "methods": ["GET"]},
                {"name": "write", "pathRegex": "/api/.*", "methods": ["POST"]},
                {
                    "name": "debug",
                    "pathRegex": ".*",
                    "methods": ["*"],
                    "headers": [{"x-debug": "1"}],
                },
            ],
        ),
        _target("a-rpc", "client", ["debug"], port=9090),
        _target("b-client", "client", ["read", "debug"]),
        _target("c-admin", "admin", ["read", "write"]),
        mesh_config(False),
    ]


def inbound(objs: list[dict], mode: Literal["cluster", "local"] = "cluster"):
    """What the api pod is served."""
    cat = FileSource(objects=objs, monitored="all", pod_ip=lambda *a: POD_IP).snapshot()
    cert = CA.issue(Identity(NS, "api"))
    return translate(cat, proxy_of(cat, "api"), TranslateOptions(mode=mode), cert)


@pytest.fixture(scope="module")
def cluster_mode():
    return inbound(objects(), "cluster")


@pytest.fixture(scope="module")
def local_mode():
    return inbound(objects(), "local")


def _as_dict(msg) -> dict:
    return json_format.MessageToDict(msg)


def test_inbound_routes_are_named_by_the_first_allowed_match(cluster_mode):
    """The request metrics' ``route`` label: the first HTTPRouteGroup match, in TrafficTarget
    order, allowed towards that port; each match once; else ``[default]``."""
    table = cluster_mode.routes[names.INBOUND_ROUTE]
    assert violations(table) == []
    by_vhost = {v.name: [r.name for r in v.routes] for v in table.virtual_hosts}
    assert by_vhost == {
        # a-rpc's destination.port is 9090: it names no route on 8080.
        "inbound|shop/api|80": ["read", "debug", "write", "[default]"],
        "inbound|shop/api|9090": ["debug", "read", "write", "[default]"],
    }
    for host, path, headers, route in [
        ("api", "/api/v", {}, "read"),
        ("api", "/api/v", {":method": "POST"}, "write"),
        ("api", "/api/v", {":method": "DELETE"}, "[default]"),
        ("api", "/other", {":method": "POST"}, "[default]"),
        ("api", "/other", {":method": "DELETE", "x-debug": "1"}, "debug"),
        ("api:9090", "/api/v", {":method": "POST", "x-debug": "1"}, "debug"),
        ("api:9090", "/api/v", {":method": "POST"}, "write"),
    ]:
        got = answer(table, host, path, headers)
        port = 9090 if host.endswith(":9090") else 80
        # Every route leads to the app: access is the RBAC filter's business.
        assert (got.route, got.cluster) == (route, f"shop/api|{port}|local"), (host, path, headers)


@pytest.mark.parametrize(
    "host",
    [
        "api",
        "api.shop",
        "api.shop.svc.cluster.local:80",
        "api-root",
        "api-root.shop.svc",
        "api-root:80",
    ],
)
def test_the_pod_answers_to_its_service_and_the_split_root_sending_to_it(cluster_mode, host):
    """A call to the root keeps the root's Host on its way to the backend (short name too:
    the caller is in the namespace)."""
    got = answer(cluster_mode.routes[names.INBOUND_ROUTE], host, "/api/v")
    assert (got.vhost, got.cluster) == ("inbound|shop/api|80", "shop/api|80|local")


@pytest.mark.parametrize("gone", ["TrafficSplit", "Service"])
def test_without_the_split_the_pod_stops_answering_to_the_root(gone):
    """The split root is a dependency of the backend's inbound: removing the TrafficSplit,
    or the root Service, reaches an inherited Translator's inbound of the backend, as a
    fresh one's."""
    source = FileSource(objects=objects(), monitored="all", pod_ip=lambda *a: POD_IP)
    translator = Translator(MeshIndex(source.snapshot(), TranslateOptions()))
    for proxy in proxies_of(source.snapshot()).values():
        translator.translate(proxy, cert_of(proxy.identity))
    after = [
        o
        for o in objects()
        if not (o["kind"] == gone and o["metadata"]["name"] in ("split", "api-root"))
    ]
    inherited, fresh = step(source, translator, after)
    api = next(p for n, p in proxies_of(fresh.index.catalog).items() if n.startswith("shop/api"))
    served = inherited.translate(api, cert_of(api.identity)).routes[names.INBOUND_ROUTE]
    assert answer(served, "api-root").status == 404
    assert answer(served, "api").cluster == "shop/api|80|local"
    assert wire(inherited, api) == wire(fresh, api)


def _local_clusters(res) -> dict[str, tuple[str, int, str | None]]:
    """name → (address, port, upstream HTTP protocol or None) of each local (app) cluster."""
    out = {}
    for name, cluster in res.clusters.items():
        if not name.endswith("|local"):
            continue
        (ep,) = cluster.load_assignment.endpoints[0].lb_endpoints
        addr = ep.endpoint.address.socket_address
        opts = _as_dict(cluster).get("typedExtensionProtocolOptions", {})
        (proto,) = [next(iter(o["explicitHttpConfig"])) for o in opts.values()] or [None]
        out[name] = (addr.address, addr.port_value, proto)
    return out


def test_local_clusters_per_service_port(cluster_mode, local_mode):
    """No cluster for a UDP port nor a port whose named target the pod lacks; gRPC talks
    HTTP/2 to the app, HTTP HTTP/1, TCP no HTTP at all. Only local mode follows the app to
    the port the runtime moved it to (a pod's annotation means nothing in a cluster)."""
    assert _local_clusters(cluster_mode) == {
        "shop/api-db2|15432|local": ("127.0.0.1", 5432, None),
        "shop/api-db2|6379|local": ("127.0.0.1", 6379, None),
        "shop/api|5432|local": ("127.0.0.1", 5432, None),
        "shop/api|80|local": ("127.0.0.1", 8080, "httpProtocolOptions"),
        "shop/api|9090|local": ("127.0.0.1", 9090, "http2ProtocolOptions"),
    }
    local = _local_clusters(local_mode)
    assert local["shop/api|80|local"] == (POD_IP, 18080, "httpProtocolOptions")
    assert local["shop/api|9090|local"] == (POD_IP, 9090, "http2ProtocolOptions")
    assert set(local) == set(_local_clusters(cluster_mode))


def _chains(res) -> list[tuple[str, dict]]:
    listener = res.listeners[names.INBOUND_LISTENER]
    assert violations(listener) == []
    return [(c.name, _as_dict(c.filter_chain_match)) for c in listener.filter_chains]


def test_tcp_chains_per_mode(cluster_mode, local_mode):
    """Cluster mode tells TCP chains apart by the original destination port: two services
    on one target port share the first one's chain (two equal matches: Envoy refuses the
    listener). Local mode tells them apart by SNI: one chain per service port."""
    assert _chains(cluster_mode) == [
        ("inbound-tcp|shop/api|5432", {"destinationPort": 5432}),
        ("inbound-tcp|shop/api-db2|6379", {"destinationPort": 6379}),
        ("inbound-http", {}),
    ]
    assert [name for name, _ in _chains(local_mode)] == [
        "inbound-tcp|shop/api|5432",
        "inbound-tcp|shop/api-db2|15432",
        "inbound-tcp|shop/api-db2|6379",
        "inbound-http",
    ]
    for name, match in _chains(local_mode)[:-1]:
        _, svc, port = name.split("|")
        assert match == {"serverNames": [names.tcp_sni(NS, svc.split("/")[1], int(port))]}


def test_the_http_chain_asks_for_the_inbound_table_by_its_name(cluster_mode):
    """Envoy finds an RDS table by the name inside it: the connection manager must ask for
    the name the table carries."""
    listener = cluster_mode.listeners[names.INBOUND_LISTENER]
    hcm = _as_dict(listener.filter_chains[-1])["filters"][0]["typedConfig"]
    assert hcm["rds"]["routeConfigName"] == cluster_mode.routes[names.INBOUND_ROUTE].name
    assert cluster_mode.routes[names.INBOUND_ROUTE].name == names.INBOUND_ROUTE


def _policy_names(res) -> dict[str, list[str]]:
    return {
        v.name: sorted(
            _as_dict(v.typed_per_filter_config[names.HTTP_RBAC_FILTER])["rbac"]["rules"].get(
                "policies", {}
            )
        )
        for v in res.routes[names.INBOUND_ROUTE].virtual_hosts
    }


def test_rbac_policies_name_what_lets_the_caller_in():
    """A config dump's RBAC policy says which TrafficTarget it comes from (numbered in
    TrafficTarget order), or that permissive mode lets every mesh peer in; a TrafficTarget
    for another port is skipped without hiding the ones after it."""
    assert _policy_names(inbound(objects())) == {
        "inbound|shop/api|80": [
            "001:TrafficTarget/shop/b-client",
            "002:TrafficTarget/shop/c-admin",
        ],
        "inbound|shop/api|9090": [
            "000:TrafficTarget/shop/a-rpc",
            "001:TrafficTarget/shop/b-client",
            "002:TrafficTarget/shop/c-admin",
        ],
    }
    permissive = [o for o in objects() if o["kind"] != "MeshConfig"] + [mesh_config(True)]
    assert set(map(tuple, _policy_names(inbound(permissive)).values())) == {("000:permissive",)}


def test_route_tables_do_not_wait_for_their_clusters(cluster_mode):
    """Every route table turns Envoy's cluster validation off: with it on, a table that
    arrives while a cluster it names is still warming is NACKed whole (envoy#14060). Unset
    is off too: Envoy's default for a table delivered over RDS."""
    assert cluster_mode.routes
    for table in cluster_mode.routes.values():
        assert table.validate_clusters.value is False
