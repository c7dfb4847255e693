"""An inherited Translator, change by change (found unchecked by mutation testing): a new
Service joins every table that lists every service (permissive mode, local mode's answers),
and a change rebuilds only what holds it — the tables after the first stale one are kept."""

from __future__ import annotations

import copy

import pytest

from osm_mesh.catalog import FileSource
from osm_mesh.envoy import names
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.translate import TranslateOptions, Translator
from tests.e2e_envoy.harness import deployment, service, service_account
from tests.mesh.envoy.test_translate import NS, objects
from tests.mesh.envoy.test_translator_inherit import (
    cert_of,
    chain,
    find,
    proxies_of,
    step,
    wire,
)
from tests.mesh.resilience.test_translate import base_objects as resilience_objects
from tests.mesh.resilience.test_translate import retry


def translated(objs: list[dict], mode: str = "cluster"):  # type: ignore[no-untyped-def]
    source = FileSource(objects=objs, monitored="all")
    translator = Translator(MeshIndex(source.snapshot(), TranslateOptions(mode=mode)))  # type: ignore[arg-type]
    proxies = proxies_of(source.snapshot())
    before = {node: translator.translate(p, cert_of(p.identity)) for node, p in proxies.items()}
    return source, translator, proxies, before


@pytest.mark.parametrize(
    ("permissive", "mode"), [(True, "cluster"), (False, "local"), (True, "local")]
)
def test_a_new_service_joins_every_table_that_lists_every_service(permissive, mode):
    """Permissive tables hold every service; local mode's tables answer for every one (403
    or 404 with the reason). A Service added over an existing workload joins them all."""
    objs = objects(permissive)
    source, translator, proxies, _ = translated(objs, mode)
    inherited, fresh = step(source, translator, [*objs, service(NS, "web-admin", app="web")])
    for node, proxy in proxies.items():
        assert wire(inherited, proxy) == wire(fresh, proxy), node
    web = next(p for n, p in proxies.items() if "/web-" in n)
    domains = {
        d
        for v in inherited.translate(web, cert_of(web.identity))
        .routes[names.OUTBOUND_ROUTE]
        .virtual_hosts
        for d in v.domains
    }
    assert "web-admin.shop.svc.cluster.local" in domains or "web-admin.shop:*" in domains


def app(node: str) -> str:
    return node.split("/")[1].rsplit("-", 1)[0]


def test_a_changed_service_rebuilds_only_the_tables_that_hold_it():
    """web may call api only, which is split to api-v2. api-v2's Service gains a port: web's
    table (holding api-v2 as a split backend) is rebuilt; zed's, translated after it, is
    kept, as is everybody else's."""
    objs = [
        o for o in objects() if not (o["kind"] == "TrafficTarget" and o["metadata"]["name"] == "v2")
    ]
    objs += [service_account(NS, "zed"), deployment(NS, "zed", "zed")]
    source, translator, proxies, before = translated(objs)
    changed = copy.deepcopy(find(objs, "Service", "api-v2"))
    changed["spec"]["ports"].append({"name": "http-alt", "port": 81, "targetPort": 8081})
    objs = [changed if o is find(objs, "Service", "api-v2") else o for o in objs]
    inherited, fresh = step(source, translator, objs)
    rebuilt = set()
    for node, proxy in proxies.items():
        after = inherited.translate(proxy, cert_of(proxy.identity))
        assert wire(inherited, proxy) == wire(fresh, proxy), node
        if after.outbound_clusters is not before[node].outbound_clusters:
            rebuilt.add(app(node))
    assert rebuilt == {"web"}


def pod(name: str, sa: str, app_label: str, ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app_label}},
        "spec": {"serviceAccountName": sa, "containers": [{"name": "c"}]},
        "status": {"podIP": ip},
    }


def test_a_split_backends_endpoints_rebuild_only_the_inbound_side_serving_its_roots():
    """api-v2 (api's split backend) has a second pod of another identity, v3. That pod moves:
    whether api's split sends to api-v2 depends on its endpoints, so api-v2's inbound side
    (answering to api's names) is rebuilt; db's and web's, translated after it, are kept."""
    objs = [*objects(), service_account(NS, "v3"), pod("api-v2b", "v3", "api-v2", "10.7.0.1")]
    source, translator, proxies, before = translated(objs)
    moved = [*objs[:-1], pod("api-v2b", "v3", "api-v2", "10.7.0.2")]
    inherited, fresh = step(source, translator, moved)
    rebuilt = set()
    for node, proxy in proxies.items():
        after = inherited.translate(proxy, cert_of(proxy.identity))
        assert wire(inherited, proxy) == wire(fresh, proxy), node
        if after.routes[names.INBOUND_ROUTE] is not before[node].routes[names.INBOUND_ROUTE]:
            rebuilt.add(app(node))
    assert "api-v2" in rebuilt
    assert not rebuilt & {"db", "web"}


@pytest.mark.parametrize("mode", ["cluster", "local"])
def test_a_proxy_served_without_certificates_keeps_its_bundle_across_unrelated_changes(mode):
    """A proxy translated with no certificate (no SDS secrets yet) keeps its very bundle
    when a change concerns others only, as one with its certificate does; in local mode
    also a pod with no IP yet (no listeners)."""
    objs = chain()
    if mode == "local":
        no_ip = copy.deepcopy(find(objs, "Pod", "app0-0"))
        no_ip["status"]["podIP"] = ""
        objs = [no_ip if o is find(objs, "Pod", "app0-0") else o for o in objs]
    source = FileSource(objects=objs)
    options = TranslateOptions(mode=mode)  # type: ignore[arg-type]
    translator = Translator(MeshIndex(source.snapshot(), options))
    proxies = proxies_of(source.snapshot())
    before = {node: translator.translate(p) for node, p in proxies.items()}
    if mode == "local":
        assert before["ns0/app0-0"].listeners == {}
    changed = copy.deepcopy(find(objs, "HTTPRouteGroup", "app3-routes"))
    changed["spec"]["matches"][0]["pathRegex"] = "/other"
    objs = [changed if o is find(objs, "HTTPRouteGroup", "app3-routes") else o for o in objs]
    inherited, _ = step(source, translator, objs)
    kept = {n for n, p in proxies.items() if inherited.translate(p).typed is before[n].typed}
    assert {app(n) for n in kept} == {"app0", "app1", "app2", "app4", "app5"}
    assert "ns0/app0-0" in kept


def test_a_changed_retry_reaches_the_tables_a_namespace_shares():
    """Permissive mode shares a table per namespace (and per source policies): a Retry whose
    policy changes, under the same name, must not leave its source the old policy."""
    policy = retry("web")
    objs = [*resilience_objects(permissive=True), policy]
    source, translator, proxies, _ = translated(objs)
    more = copy.deepcopy(policy)
    more["spec"]["retryPolicy"]["numRetries"] = 9
    inherited, fresh = step(source, translator, [*objs[:-1], more])
    for node, proxy in proxies.items():
        assert wire(inherited, proxy) == wire(fresh, proxy), node
    web = next(p for n, p in proxies.items() if "/web-" in n)
    route = inherited.translate(web, cert_of(web.identity)).routes[names.OUTBOUND_ROUTE]
    api = next(v for v in route.virtual_hosts if v.name == "shop/api|80")
    assert api.routes[0].route.retry_policy.num_retries.value == 9
