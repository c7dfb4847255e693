"""The outbound route table and listeners as Envoy receives them (found unchecked by mutation
testing): the table's name and cluster validation, local mode's answers for misses, egress in
permissive mode, what the table records it was built from, local TCP listeners in full."""

from __future__ import annotations

import datetime as dt

import pytest

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.e2e_envoy.harness import route_group, traffic_split
from tests.mesh.envoy.test_translate import NS, as_json, catalog, objects, proxy_of

TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


@pytest.fixture(scope="module")
def cert():
    return CertificateAuthority.create().issue(Identity(NS, "web"), validity=dt.timedelta(hours=1))


def snapshot(objs: list[dict], monitored: object = "all"):
    return FileSource(objects=objs, monitored=monitored, pod_ip=lambda *a: "10.1.1.1").snapshot()


def vhost_names(res) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.name for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts]


@pytest.mark.parametrize("mode", ["cluster", "local"])
def test_the_outbound_table_is_rds_outbound_and_loads_with_clusters_still_coming(cert, mode):
    """validate_clusters off: a route to a cluster Envoy has not received yet (CDS and RDS
    arrive separately) must not make it refuse the whole table."""
    cat = catalog()
    route = as_json(
        translate(cat, proxy_of(cat, "web"), TranslateOptions(mode=mode), cert).routes[
            names.OUTBOUND_ROUTE
        ]
    )
    assert route["name"] == names.OUTBOUND_ROUTE
    assert route["validateClusters"] is False


def test_local_mode_answers_every_miss_with_its_reason(cert):
    """In local mode (SMI), a mesh service the caller may not call answers 403 naming the
    policy, one it may call on a port it lacks answers 404 naming its ports."""
    cat = catalog()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(mode="local"), cert)
    vhosts = {v.name: as_json(v) for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
    assert set(vhosts) == {
        "shop/api|80",
        "shop/api-v2|80",
        "explain-port|shop/api",
        "explain-port|shop/api-v2",
        "explain-denied|shop/db",
        "explain-denied|shop/web",
        "explain-unknown",
    }
    denied = vhosts["explain-denied|shop/db"]["routes"][0]["directResponse"]
    assert denied["status"] == 403
    assert "no TrafficTarget allows ServiceAccount shop/web" in denied["body"]["inlineString"]
    assert vhosts["explain-port|shop/api"]["routes"][0]["directResponse"]["status"] == 404
    # Permissive: nothing is denied; every miss is a port the service lacks.
    open_cat = catalog(permissive=True)
    open_res = translate(open_cat, proxy_of(open_cat, "web"), TranslateOptions(mode="local"), cert)
    assert not [n for n in vhost_names(open_res) if n.startswith("explain-denied")]


def test_egress_in_permissive_mode_sends_every_unknown_host_out(cert):
    """Permissive mode denies no mesh name: unknown hosts of the mesh's namespaces leave
    through the passthrough too (only SMI mode answers them 403)."""
    cat = snapshot(objects(permissive=True, egress=True), monitored=[NS])
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    assert vhost_names(res) == [
        "shop/api|80",
        "shop/api-v2|80",
        "shop/web|80",
        "egress-passthrough",
    ]


def test_a_split_match_of_any_method_has_no_method_condition(cert):
    split = traffic_split(NS, "split", "api", {"api-v2": 100})
    split["apiVersion"] = "split.smi-spec.io/v1alpha4"
    split["spec"]["matches"] = [{"kind": "HTTPRouteGroup", "name": "beta"}]
    beta = route_group(NS, "beta", [{"name": "b", "pathRegex": "/beta", "methods": ["*"]}])
    kept = [o for o in objects() if o["kind"] != "TrafficSplit"]
    cat = snapshot([*kept, split, beta])
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhost = next(
        v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts if v.name == "shop/api|80"
    )
    assert as_json(vhost.routes[0])["match"] == {"safeRegex": {"regex": "(?:/beta).*"}}


def test_the_table_records_every_service_it_holds(cert):
    """What the Recomputer learns from a table: a TCP service called (its definition and its
    pods), a split backend reached only through its root."""
    cat = catalog()
    api = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert).depends_on
    assert (NS, "db") in api.services and (NS, "db") in api.endpoints
    # web may call api only; api's split sends to api-v2, which web has no TrafficTarget for.
    only_api = [
        o for o in objects() if not (o["kind"] == "TrafficTarget" and o["metadata"]["name"] == "v2")
    ]
    cat = snapshot(only_api)
    web = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    assert "shop/api-v2|80" in web.clusters
    assert {(NS, "api"), (NS, "api-v2")} <= web.depends_on.services


def test_local_tcp_listeners_in_full(cert):
    cat = catalog()
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(mode="local"), cert)
    api_ip = next(p.ip for p in cat.pods if p.deployment == "api")
    assert as_json(res.listeners["outbound-tcp|5432"]) == {
        "name": "outbound-tcp|5432",
        "address": {"socketAddress": {"address": api_ip, "portValue": 5432}},
        "filterChains": [
            {
                "name": "outbound-tcp|5432",
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typedConfig": {
                            "@type": TCP_PROXY,
                            "statPrefix": "outbound-tcp-5432",
                            "cluster": "shop/db|5432",
                        },
                    }
                ],
            }
        ],
    }
    outbound = as_json(res.listeners[names.OUTBOUND_LISTENER])
    assert outbound["name"] == names.OUTBOUND_LISTENER
