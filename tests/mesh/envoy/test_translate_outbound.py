"""The outbound side in detail (found unchecked by mutation testing): split backends per
port, the outbound listener's filters per mode, TCP chains in cluster mode."""

from __future__ import annotations

import datetime as dt

import pytest

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.e2e_envoy.harness import service, traffic_split
from tests.mesh.envoy.test_translate import NS, as_json, catalog, objects, proxy_of


@pytest.fixture(scope="module")
def cert():
    return CertificateAuthority.create().issue(Identity(NS, "web"), validity=dt.timedelta(hours=1))


def test_a_split_backend_without_the_roots_port_gets_none_of_that_ports_traffic(cert):
    """api has ports 80 and 81; its split's backend api-v2 serves 80 only: on 81 the root
    keeps its traffic (a backend lacking the port is dropped for that port)."""
    api = service(NS, "api")
    api["spec"]["ports"].append({"name": "http-alt", "port": 81, "targetPort": 8080})
    rest = [
        o
        for o in objects(permissive=True)
        if not (o["kind"] == "Service" and o["metadata"]["name"] == "api")
    ]
    rest = [o for o in rest if o["kind"] != "TrafficSplit"]
    split = traffic_split(NS, "split", "api", {"api-v2": 100})
    cat = FileSource(
        objects=[*rest, api, split], monitored="all", pod_ip=lambda *a: "10.1.1.1"
    ).snapshot()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    vhosts = {v.name: v for v in res.routes[names.OUTBOUND_ROUTE].virtual_hosts}
    assert [r.route.cluster for r in vhosts["shop/api|80"].routes] == ["shop/api-v2|80"]
    assert [r.route.cluster for r in vhosts["shop/api|81"].routes] == ["shop/api|81"]
    assert "shop/api-v2|81" not in res.clusters
    assert {"shop/api|81", "shop/api-v2|80"} <= set(res.clusters)


def test_the_outbound_listener_per_mode(cert):
    cat = catalog()
    local = as_json(
        translate(cat, proxy_of(cat, "web"), TranslateOptions(mode="local"), cert).listeners[
            names.OUTBOUND_LISTENER
        ]
    )
    assert "listenerFilters" not in local  # loopback addresses: no original destination
    (http,) = local["filterChains"]
    assert http["name"] == "outbound-http"
    hcm = http["filters"][0]["typedConfig"]
    assert hcm["statPrefix"] == "outbound" and hcm["rds"]["routeConfigName"] == names.OUTBOUND_ROUTE
    assert not any(f["name"] == "envoy.filters.http.rbac" for f in hcm["httpFilters"])

    api = proxy_of(cat, "api")  # api may call db (TCP 5432) in cluster mode
    cluster = as_json(
        translate(cat, api, TranslateOptions(), cert).listeners[names.OUTBOUND_LISTENER]
    )
    assert [f["name"] for f in cluster["listenerFilters"]] == [
        "envoy.filters.listener.original_dst"
    ]
    tcp = cluster["filterChains"][0]
    assert tcp["name"] == "outbound-tcp|5432"
    assert tcp["filterChainMatch"] == {"destinationPort": 5432}
    proxy = tcp["filters"][0]["typedConfig"]
    assert (proxy["statPrefix"], proxy["cluster"]) == ("outbound-tcp-5432", "shop/db|5432")
    assert "defaultFilterChain" not in cluster  # no egress: nothing passes through

    egress = catalog(egress=True)
    with_egress = as_json(
        translate(egress, proxy_of(egress, "api"), TranslateOptions(), cert).listeners[
            names.OUTBOUND_LISTENER
        ]
    )
    assert [f["name"] for f in with_egress["listenerFilters"]] == [
        "envoy.filters.listener.original_dst",
        "envoy.filters.listener.http_inspector",
    ]
    default = with_egress["defaultFilterChain"]
    assert default["name"] == "outbound-egress-tcp"
    assert default["filters"][0]["typedConfig"]["statPrefix"] == "outbound-egress"
