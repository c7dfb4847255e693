"""What a local mesh answers to an outbound request it will not carry (explain.py), in-process.

The same answers `tests/mesh/local/test_denials.py` gets through real Envoy, here read off the
client's outbound route table by ``envoy_rules.answer`` (Envoy's virtual host and route
selection) for every kind of miss: a Service no TrafficTarget opens, a port a Service lacks,
a TCP port, a short name of another namespace, an unknown host.
"""

from __future__ import annotations

import datetime as dt

import pytest

from osm_mesh.catalog import FileSource
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
from tests.mesh.envoy.envoy_rules import answer, violations
from tests.mesh.envoy.test_translate import proxy_of

NS = "shop"
UNKNOWN = "osm: no Service in the mesh answers to this host"


def _ports(svc: dict, *ports: tuple[str, int]) -> dict:
    svc["spec"]["ports"] = [{"name": n, "port": p, "targetPort": 8080} for n, p in ports]
    return svc


def _app(ns: str, name: str, *ports: tuple[str, int]) -> list[dict]:
    svc = _ports(service(ns, name), *ports) if ports else service(ns, name)
    return [service_account(ns, name), deployment(ns, name, name), svc]


def _objects(permissive: bool) -> list[dict]:
    """``client`` (no Service of its own) may call ``api`` only; ``secret`` is shut to it;
    ``web`` lives in two other namespaces; ``order-db`` serves TCP only."""
    return [
        service_account(NS, "client"),
        deployment(NS, "client", "client"),
        *_app(NS, "api", ("http", 80), ("http-alt", 81), ("tcp-db", 5432), ("tcp-queue", 6379)),
        *_app(NS, "secret"),
        *_app(NS, "order-db", ("tcp-db", 5432), ("tcp-replica", 5433)),
        *_app("other", "web"),
        *_app("third", "web"),
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        traffic_target(NS, "api", "api", ["client"], "all"),
        mesh_config(permissive),
    ]


def _outbound(permissive: bool, source: str = "client"):
    ips = iter(f"10.0.0.{i}" for i in range(1, 100))
    cat = FileSource(
        objects=_objects(permissive), monitored="all", pod_ip=lambda *a: next(ips)
    ).snapshot()
    proxy = proxy_of(cat, source)
    cert = CertificateAuthority.create().issue(proxy.identity, validity=dt.timedelta(hours=1))
    res = translate(cat, proxy, TranslateOptions(mode="local"), cert)
    return res.routes[names.OUTBOUND_ROUTE]


@pytest.fixture(scope="module")
def smi():
    return _outbound(permissive=False)


@pytest.fixture(scope="module")
def permissive():
    return _outbound(permissive=True)


def _denied(service: str) -> str:
    return (
        "RBAC: access denied: no TrafficTarget allows ServiceAccount shop/client to call "
        f"Service {service}\n"
    )


API_PORTS = (
    "osm: Service shop/api has no such HTTP port; its HTTP ports: 80, 81; its TCP ports "
    "(5432, 6379) are not HTTP: connect to your own address at the port ($POD_IP:5432, "
    "announced as $API_SERVICE_HOST:$API_SERVICE_PORT), the sidecar carries it\n"
)
ORDER_DB_PORTS = (
    "osm: Service shop/order-db has no such HTTP port; its TCP ports (5432, 5433) are not "
    "HTTP: connect to your own address at the port ($POD_IP:5432, announced as "
    "$ORDER_DB_SERVICE_HOST:$ORDER_DB_SERVICE_PORT), the sidecar carries it\n"
)
SHORT_WEB = (
    "osm: no Service 'web' in namespace shop; a short name only reaches the caller's "
    "namespace: call web.other, web.third\n"
)


@pytest.mark.parametrize(
    ("host", "status", "body"),
    [
        # Only a Service no TrafficTarget opens to the caller gets the policy's 403, in every
        # form of its name, on any port; the short form only in the caller's namespace.
        ("secret", 403, _denied("shop/secret")),
        ("secret.shop:81", 403, _denied("shop/secret")),
        ("web.other", 403, _denied("other/web")),
        ("web.third.svc.cluster.local:8080", 403, _denied("third/web")),
        # A callable Service on a port it lacks (or a TCP one): where to go instead.
        ("api.shop:8080", 404, API_PORTS),
        ("api.shop.svc:5432", 404, API_PORTS),
        ("api:8080", 404, API_PORTS),
        ("order-db.shop", 403, _denied("shop/order-db")),
        # A short name of Services elsewhere names their full names.
        ("web", 404, SHORT_WEB),
        ("web:8080", 404, SHORT_WEB),
        ("web.nowhere", 404, UNKNOWN),
        ("example.com", 404, UNKNOWN),
    ],
)
def test_smi_mode_answers_each_miss_with_its_reason(smi, host, status, body):
    got = answer(smi, host, "/some/path")
    if body == UNKNOWN:
        assert (got.status, got.body.startswith(UNKNOWN + ";")) == (status, True), got
    else:
        assert (got.status, got.body) == (status, body)
    assert got.cluster is None


@pytest.mark.parametrize(
    ("host", "status", "body"),
    [
        ("order-db.shop", 404, ORDER_DB_PORTS),
        ("order-db.shop.svc.cluster.local:5432", 404, ORDER_DB_PORTS),
        ("web", 404, SHORT_WEB),
        ("nothing.here", 404, UNKNOWN),
    ],
)
def test_permissive_mode_answers_the_same_reasons_without_a_policy_denial(
    permissive, host, status, body
):
    got = answer(permissive, host)
    assert got.status == status and got.body.startswith(body.rstrip("\n")), got
    assert "TrafficTarget" not in got.body


@pytest.mark.parametrize(
    ("mode", "host", "cluster"),
    [
        ("smi", "api.shop", "shop/api|80"),
        ("smi", "api:81", "shop/api|81"),
        ("permissive", "secret.shop", "shop/secret|80"),
        ("permissive", "web.other", "other/web|80"),
        ("permissive", "web.third:80", "third/web|80"),
    ],
)
def test_what_the_caller_may_call_is_routed_not_explained(smi, permissive, mode, host, cluster):
    table = smi if mode == "smi" else permissive
    assert answer(table, host).cluster == cluster


@pytest.mark.parametrize("mode", ["smi", "permissive"])
def test_every_explaining_virtual_host_is_one_envoy_accepts(smi, permissive, mode):
    table = smi if mode == "smi" else permissive
    assert violations(table) == []
    explaining = [v for v in table.virtual_hosts if v.name.startswith("explain-")]
    assert explaining and explaining[-1].name == "explain-unknown"
    assert list(explaining[-1].domains) == ["*"]  # the last resort, after every other host
    for vhost in explaining:
        (route,) = vhost.routes
        # Every path of the host gets the answer (one prefix-"/" route, Envoy's any path).
        assert (route.match.WhichOneof("path_specifier"), route.match.prefix) == ("prefix", "/")


def test_the_explaining_virtual_hosts_are_named_by_what_they_explain(smi, permissive):
    assert [v.name for v in smi.virtual_hosts if v.name.startswith("explain")] == [
        "explain-denied|other/web",
        "explain-port|shop/api",
        "explain-denied|shop/order-db",
        "explain-denied|shop/secret",
        "explain-denied|third/web",
        "explain-short|web",
        "explain-unknown",
    ]
    assert [v.name for v in permissive.virtual_hosts if v.name.startswith("explain")] == [
        "explain-port|other/web",
        "explain-port|shop/api",
        "explain-port|shop/order-db",
        "explain-port|shop/secret",
        "explain-port|third/web",
        "explain-short|web",
        "explain-unknown",
    ]


def test_the_rules_refuse_what_envoy_refuses():
    """``violations`` is only worth its silence if it speaks: each broken piece is named."""
    from envoy.config.route.v3 import route_components_pb2 as rc

    from osm_mesh.envoy import pb

    broken = rc.VirtualHost(
        name="",
        domains=["x"],
        routes=[rc.Route(direct_response=rc.DirectResponseAction(status=0))],
    )
    assert violations(broken) == [
        "VirtualHost.name: shorter than 1",
        "VirtualHost.routes/Route.match: required",
        "VirtualHost.routes/Route.direct_response/DirectResponseAction.status: 0 out of range",
    ]
    assert violations(pb.tcp_proxy("", "c")) == [
        "Filter.typed_config/TcpProxy.stat_prefix: shorter than 1"
    ]
