"""Per proxy (found unchecked by mutation testing): which pod a proxy is, the ports its
local-mode TCP listeners must leave alone, what its resources depend on (the Recomputer's
input), and the sharing of what does not depend on it between proxies."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.catalog.objects import LOCAL_PORTS_ANNOTATION
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.model import Dependencies
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, Translator, translate
from tests.e2e_envoy.harness import deployment, service, service_account, traffic_target
from tests.mesh.envoy.test_translate import NS, as_json, catalog, objects, proxy_of, tcp_service

CA = CertificateAuthority.create()


@pytest.fixture(scope="module")
def cert():
    return CA.issue(Identity(NS, "web"), validity=dt.timedelta(hours=1))


def ips(ns: str, name: str, i: int, pod_name: str) -> str:
    return f"10.0.{len(name)}.{i + 1}"


def snapshot(objs: list[dict], pod_ip=ips):  # type: ignore[no-untyped-def]
    return FileSource(objects=objs, monitored="all", pod_ip=pod_ip).snapshot()


def pod_named(cat, deployment_name: str):  # type: ignore[no-untyped-def]
    return next(p for p in cat.pods if p.deployment == deployment_name)


# -- which pod ------------------------------------------------------------------------------
def test_a_proxy_unknown_by_uuid_is_found_by_its_pod_name(cert):
    cat = catalog()
    api = pod_named(cat, "api")
    by_name = ProxyIdentity("not-a-uuid", api.identity, pod_name=api.name)
    res = translate(cat, by_name, TranslateOptions(), cert)
    assert not res.notes
    assert [v.name for v in res.routes[names.INBOUND_ROUTE].virtual_hosts] == [
        "inbound|shop/api|80"
    ]
    assert res.depends_on.pod == api.key
    # The uuid wins over a pod name that names no pod (or another one).
    by_uuid = ProxyIdentity(api.proxy_uuid or "", api.identity, pod_name="gone")
    assert translate(cat, by_uuid, TranslateOptions(), cert).depends_on.pod == api.key
    # A name is looked up in the proxy's own namespace only.
    elsewhere = ProxyIdentity("x", Identity("other", api.service_account), pod_name=api.name)
    assert translate(cat, elsewhere, TranslateOptions(), cert).depends_on.pod is None


def test_a_pod_without_an_ip_in_local_mode_gets_no_listeners_and_says_why(cert):
    cat = snapshot(objects(), pod_ip=lambda ns, name, i, pod: "" if name == "web" else "10.9.9.9")
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(mode="local"), cert)
    assert res.notes == ("local mode needs the pod's IP: no listeners",)
    assert res.listeners == {}
    assert names.OUTBOUND_ROUTE in res.routes  # it may still call what it may call


# -- local mode's TCP listeners ---------------------------------------------------------------
def with_annotation(dep: dict, key: str, value: str) -> dict:
    dep["spec"]["template"]["metadata"]["annotations"] = {key: value}
    return dep


def tcp_listener_ports(res) -> set[int]:  # type: ignore[no-untyped-def]
    found = set()
    for name, listener in res.listeners.items():
        if name.startswith("outbound-tcp|"):
            address = as_json(listener)["address"]["socketAddress"]
            found.add(address["portValue"])
    return found


def test_local_tcp_listeners_leave_the_pods_own_ports_alone(cert):
    """TCP services on 5432 (db), 8080 (cache), 15000 (Envoy's admin port), 9000 (free) and
    80. A caller gets a listener on its own address per port it does not use itself: not on
    its container port, nor where the local runtime moved its app, nor on Envoy's ports, and
    a pod declaring no port is taken to serve 80."""
    bare = deployment(NS, "bare", "web")
    del bare["spec"]["template"]["spec"]["containers"][0]["ports"]
    moved = with_annotation(
        deployment(NS, "mover", "web"), LOCAL_PORTS_ANNOTATION, json.dumps({"8080": 5432})
    )
    extra = [
        tcp_service(NS, "cache", 8080),
        tcp_service(NS, "admin", names.ADMIN_PORT),
        tcp_service(NS, "free", 9000),
        tcp_service(NS, "plain", 80),
        bare,
        moved,
    ]
    cat = snapshot([*objects(permissive=True), *extra])
    options = TranslateOptions(mode="local")
    web = translate(cat, proxy_of(cat, "web"), options, cert)
    assert tcp_listener_ports(web) == {80, 5432, 9000}
    mover = translate(cat, proxy_of(cat, "mover"), options, cert)
    assert tcp_listener_ports(mover) == {80, 9000}
    bare_res = translate(cat, proxy_of(cat, "bare"), options, cert)
    assert tcp_listener_ports(bare_res) == {5432, 8080, 9000}
    # On the caller's own address.
    address = as_json(web.listeners["outbound-tcp|9000"])["address"]["socketAddress"]
    assert address == {"address": pod_named(cat, "web").ip, "portValue": 9000}
    # Cluster mode: iptables brings TCP to the outbound listener; no listener per port.
    cluster = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    assert set(cluster.listeners) == {names.INBOUND_LISTENER, names.OUTBOUND_LISTENER}


# -- what a proxy's resources depend on -------------------------------------------------------
def test_the_dependencies_a_proxy_records_for_the_recomputer(cert):
    cat = catalog()
    deps = {
        who: translate(cat, proxy_of(cat, who), TranslateOptions(), cert).depends_on
        for who in ("web", "api-v2")
    }
    # web calls api (split to api-v2); its own pod serves web.
    assert deps["web"] == Dependencies(
        pod_named(cat, "web").key,
        frozenset({(NS, "api"), (NS, "api-v2"), (NS, "web")}),
        frozenset({(NS, "api"), (NS, "api-v2")}),
        every_service=False,
    )
    # api-v2 calls nothing; it serves api-v2 and, as a split backend, api's names: api's own
    # pods decide whether api's split sends to it.
    assert deps["api-v2"].services == frozenset({(NS, "api"), (NS, "api-v2")})
    assert deps["api-v2"].endpoints == frozenset({(NS, "api-v2")})
    assert deps["api-v2"].every_service is False
    # Local mode's tables explain misses with every service; permissive mode reaches all.
    local = translate(cat, proxy_of(cat, "web"), TranslateOptions(mode="local"), cert)
    assert local.depends_on.every_service is True
    open_cat = catalog(permissive=True)
    permissive = translate(open_cat, proxy_of(open_cat, "web"), TranslateOptions(), cert)
    assert permissive.depends_on.every_service is True


# -- what proxies share ---------------------------------------------------------------------
def test_what_does_not_depend_on_the_proxy_is_built_once_and_shared():
    """Clusters, endpoints and virtual hosts are shared by every table that has them,
    permissive tables by a namespace, and a proxy's bundle survives other proxies being
    translated in between (two replicas with certificates of their own, two workloads of one
    ServiceAccount): the SnapshotCache serializes each shared part once."""
    both = traffic_target(NS, "v2", "v2", ["web", "api"], "routes")
    twin = deployment(NS, "web-twin", "web")
    twin_svc = service(NS, "web-twin")
    objs = [o for o in objects() if o["metadata"]["name"] != "v2" or o["kind"] != "TrafficTarget"]
    cat = snapshot([*objs, both, twin, twin_svc])
    translator = Translator(MeshIndex(cat, TranslateOptions()))
    web, api, twin_proxy = (proxy_of(cat, n) for n in ("web", "api", "web-twin"))
    first_cert, second_cert = CA.issue(web.identity), CA.issue(web.identity)
    from_web = translator.translate(web, first_cert)
    from_api = translator.translate(api, None)
    assert from_web.routes[names.OUTBOUND_ROUTE] is not from_api.routes[names.OUTBOUND_ROUTE]
    shared = "shop/api-v2|80"
    assert from_web.outbound_clusters[shared] is from_api.outbound_clusters[shared]
    assert from_web.endpoints[shared] is from_api.endpoints[shared]

    # The tables copy their virtual hosts in; each is built once all the same.
    api_v2 = cat.service(NS, "api-v2")
    port = api_v2.ports[0]
    assert translator.vhost(api_v2, port, True) is translator.vhost(api_v2, port, True)
    # One workload's replica with another certificate, another workload of web's identity.
    translator.translate(web, second_cert)
    translator.translate(twin_proxy, first_cert)
    again = translator.translate(web, first_cert)
    assert again.typed is from_web.typed and again.listeners is from_web.listeners
    # translate() keeps one Translator per index.
    index = MeshIndex(cat, TranslateOptions())
    one = translate(cat, web, certs=first_cert, index=index)
    assert translate(cat, web, certs=first_cert, index=index).typed is one.typed

    open_cat = catalog(permissive=True)
    open_translator = Translator(MeshIndex(open_cat, TranslateOptions()))
    tables = [
        open_translator.translate(proxy_of(open_cat, n)).routes[names.OUTBOUND_ROUTE]
        for n in ("web", "api")
    ]
    assert tables[0] is tables[1]


def rollout_pod(name: str, replica_set: str, labels: dict, port: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels,
            "ownerReferences": [{"kind": "ReplicaSet", "name": replica_set}],
        },
        "spec": {
            "serviceAccountName": "web",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}],
        },
        "status": {"podIP": f"10.5.0.{port % 200}"},
    }


def test_pods_of_one_deployment_mid_rollout_each_get_their_own_inbound_side(cert):
    """A rollout changes the template: the new pods carry a new label (a Service selects
    them only) and serve on another port behind the same named targetPort. Replicas of one
    Deployment share their inbound side only while their services and ports agree."""
    web = service(NS, "web")
    web["spec"]["ports"] = [{"name": "http", "port": 80, "targetPort": "http"}]
    canary = service(NS, "web-canary")
    canary["spec"]["selector"] = {"app": "web", "track": "canary"}
    canary["spec"]["ports"] = web["spec"]["ports"]
    kept = [o for o in objects(permissive=True) if o["metadata"]["name"] != "web"]
    old = rollout_pod("web-5d8f9c-a", "web-5d8f9c", {"app": "web"}, 8080)
    new = rollout_pod("web-7f6b4d-a", "web-7f6b4d", {"app": "web", "track": "canary"}, 9090)
    moved = rollout_pod("web-7f6b4d-b", "web-7f6b4d", {"app": "web"}, 9090)
    cat = snapshot([*kept, service_account(NS, "web"), web, canary, old, new, moved])
    translator = Translator(MeshIndex(cat, TranslateOptions()))

    def inbound(pod_name: str) -> tuple[list[str], set[int]]:
        pod = cat.pod(NS, pod_name)
        assert pod is not None and pod.deployment == "web"
        res = translator.translate(ProxyIdentity("", pod.identity, pod_name=pod.name), None)
        vhosts = [v.name for v in res.routes[names.INBOUND_ROUTE].virtual_hosts]
        ports = {
            as_json(c)["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"][
                "socketAddress"
            ]["portValue"]
            for c in res.local_clusters.values()
        }
        return vhosts, ports

    assert inbound("web-5d8f9c-a") == (["inbound|shop/web|80"], {8080})
    assert inbound("web-7f6b4d-a") == (
        ["inbound|shop/web|80", "inbound|shop/web-canary|80"],
        {9090},
    )
    assert inbound("web-7f6b4d-b") == (["inbound|shop/web|80"], {9090})
