"""Scoped recompute: byte-identical to a full recompute, and unaffected proxies left alone.

The property test drives two Recomputers through the same random change sequences: one
recomputes only the proxies each change can affect, the other translates every proxy every
time. After each step every proxy's served bytes (each resource as serialized for the wire)
must be the same in both.

The targeted tests pin exactly who is translated again for each kind of change (TrafficTargets
and the routes they name, endpoints, split roots/backends/routes, Retries, services selecting
pods, permissive mode), compare with a full recompute where a miss would leave a proxy stale,
and check the MeshIndex a scoped recompute derives (against a fresh one) and its memo.
"""

from __future__ import annotations

import copy
import random

import pytest

from benchmarks.bench_catalog import mesh_objects
from osm_mesh.catalog import FileSource, Identity, build_catalog
from osm_mesh.catalog.diff import CatalogDiff, diff_catalogs
from osm_mesh.certs import CertificateAuthority, CertManager
from osm_mesh.envoy import names
from osm_mesh.envoy.index import MeshIndex, mesh_index
from osm_mesh.envoy.model import Dependencies
from osm_mesh.envoy.scope import Affected, Dependents, affected_by
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, translate
from osm_mesh.recompute import Recomputer
from osm_mesh.xds.cache import SnapshotCache
from tests.mesh.envoy.random_mesh import ACCOUNTS, NAMESPACES, UUIDS, RandomMesh

CA = CertificateAuthority.create()


def proxies_for(mesh: RandomMesh, seed: int) -> dict[str, ProxyIdentity]:
    """One proxy per pod (some naming their pod), plus proxies whose pods do not exist yet."""
    rng = random.Random(seed)
    out: dict[str, ProxyIdentity] = {}
    for (kind, ns, name), obj in sorted(mesh.world.items()):
        if kind != "Pod":
            continue
        identity = Identity(ns, obj["spec"]["serviceAccountName"])
        uuid = obj["metadata"]["labels"]["osm-proxy-uuid"]
        pod_name = name if rng.random() < 0.3 else None
        out[f"{uuid}.{identity.name}.{ns}.{name}"] = ProxyIdentity(uuid, identity, pod_name)
    for uuid in UUIDS[::3]:
        identity = Identity(rng.choice(NAMESPACES), rng.choice(ACCOUNTS))
        out[f"{uuid}.{identity.name}.{identity.namespace}.later"] = ProxyIdentity(uuid, identity)
    return out


def served(cache: SnapshotCache, node: str) -> dict[str, dict[str, bytes]]:
    snapshot = cache.get(node)
    assert snapshot is not None, node
    return snapshot.serialized


def engines(source: FileSource, mode: str) -> tuple[Recomputer, Recomputer]:
    certs = CertManager(CA)  # shared: both engines hand out the same certificates
    options = TranslateOptions(mode=mode)  # type: ignore[arg-type]
    scoped = Recomputer(SnapshotCache(), certs, options, source.snapshot())
    full = Recomputer(SnapshotCache(), certs, options, source.snapshot())
    return scoped, full


@pytest.mark.parametrize("mode", ["cluster", "local"])
@pytest.mark.parametrize("seed", range(12))
def test_scoped_recompute_is_byte_identical_to_full(seed, mode):
    mesh = RandomMesh(seed, permissive=seed % 4 == 3)
    source = FileSource(objects=mesh.objects(), monitored=list(NAMESPACES))
    scoped, full = engines(source, mode)
    nodes = proxies_for(mesh, seed)
    for node, proxy in nodes.items():
        scoped.add(node, proxy)
        full.add(node, proxy)
    translated = 0
    for step in range(40):
        # Sometimes several changes land before one recompute (a coalesced burst).
        what = [mesh.change() for _ in range(1 if step % 3 else 3)]
        catalog = source.replace_objects(mesh.objects())
        stats = scoped.update(catalog)
        full.update(catalog, full=True)
        translated += stats.translated
        for node in nodes:
            assert served(scoped.cache, node) == served(full.cache, node), (step, what, node)
    print(f"seed {seed} {mode}: {translated} of {40 * len(nodes)} translations")


# -- exactly who is translated again -------------------------------------------------------------
def chain_objects() -> list[dict]:
    """20 apps x 2 pods; app<i>'s TrafficTarget lets app<i-1> call it (benchmarks' shape)."""
    return mesh_objects(services=20, pods=40, targets=20)


def chain_mesh(objects: list[dict] | None = None) -> tuple[FileSource, Recomputer]:
    source = FileSource(objects=chain_objects() if objects is None else objects)
    engine = Recomputer(SnapshotCache(), CertManager(CA), TranslateOptions(), source.snapshot())
    for pod in source.snapshot().pods:
        engine.add(pod.name, ProxyIdentity(pod.proxy_uuid or "", pod.identity))
    return source, engine


def retranslated(engine: Recomputer, change) -> set[str]:  # type: ignore[no-untyped-def]
    before = dict(engine.translations)
    engine.update(change())
    return {node for node, n in engine.translations.items() if n != before.get(node)}


def pods_of(*apps: int) -> set[str]:
    return {f"app{i}-{r}" for i in apps for r in (0, 1)}


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_traffic_target_change_translates_its_destination_and_old_and_new_sources():
    source, engine = chain_mesh()
    target = copy.deepcopy(find(chain_objects(), "TrafficTarget", "app5"))
    target["spec"]["sources"] = [{"kind": "ServiceAccount", "name": "app7", "namespace": "ns7"}]
    assert retranslated(engine, lambda: source.apply([target])) == pods_of(5, 4, 7)
    # And back: the same three identities again, nobody else.
    original = find(chain_objects(), "TrafficTarget", "app5")
    assert retranslated(engine, lambda: source.apply([original])) == pods_of(5, 4, 7)


def test_endpoint_change_translates_the_pod_and_its_callers_not_its_sibling():
    source, engine = chain_mesh()
    pod = copy.deepcopy(find(chain_objects(), "Pod", "app5-0"))
    pod["status"]["podIP"] = "10.200.0.1"
    assert retranslated(engine, lambda: source.apply([pod])) == {"app5-0"} | pods_of(4)


@pytest.mark.parametrize("destination_namespace", ["given", "omitted"])
def test_route_group_change_translates_the_destinations_using_it(destination_namespace):
    objects = chain_objects()
    if destination_namespace == "omitted":  # it defaults to the TrafficTarget's own
        del find(objects, "TrafficTarget", "app9")["spec"]["destination"]["namespace"]
    source, engine = chain_mesh(objects)
    group = copy.deepcopy(find(chain_objects(), "HTTPRouteGroup", "app9-routes"))
    group["spec"]["matches"][0]["pathRegex"] = "/other"
    assert retranslated(engine, lambda: source.apply([group])) == pods_of(9)


def test_change_nobody_depends_on_translates_nobody():
    source, engine = chain_mesh()
    unused = copy.deepcopy(find(chain_objects(), "HTTPRouteGroup", "app9-routes"))
    unused["metadata"]["name"] = "unused"
    assert retranslated(engine, lambda: source.apply([unused])) == set()
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "new", "namespace": "ns3"}}  # fmt: skip
    assert retranslated(engine, lambda: source.apply([account])) == set()


def test_mesh_config_change_translates_everyone():
    source, engine = chain_mesh()
    config = copy.deepcopy(chain_objects()[0])
    config["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] = True
    assert retranslated(engine, lambda: source.apply([config])) == set(engine.proxies())


def test_proxy_no_longer_calling_a_service_is_not_translated_for_its_changes():
    source, engine = chain_mesh()
    target = copy.deepcopy(find(chain_objects(), "TrafficTarget", "app5"))
    target["spec"]["sources"] = [{"kind": "ServiceAccount", "name": "app7", "namespace": "ns7"}]
    source.apply([target])
    engine.update(source.snapshot())
    # app4 may not call app5 any more: app5's endpoints are app7's concern now, not app4's.
    pod = copy.deepcopy(find(chain_objects(), "Pod", "app5-0"))
    pod["status"]["podIP"] = "10.200.0.1"
    assert retranslated(engine, lambda: source.apply([pod])) == {"app5-0"} | pods_of(7)


def test_identity_is_held_until_its_last_proxy_is_removed():
    # The control plane stops renewing an identity's certificate when no proxy holds it.
    _, engine = chain_mesh()
    app5 = Identity("ns5", "app5")
    engine.remove("app5-0")
    assert engine.holds(app5)
    engine.remove("app5-1")
    assert not engine.holds(app5)
    assert engine.holds(Identity("ns4", "app4"))


# -- TrafficSplits: a change to a root, a backend or the routes it splits on ---------------------
def split_objects(backend: str = "app15") -> list[dict]:
    """The chain mesh, plus a split of app5 (ns5) to ``backend`` for requests under /beta."""
    return [
        *chain_objects(),
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "HTTPRouteGroup",
            "metadata": {"name": "canary", "namespace": "ns5"},
            "spec": {"matches": [{"name": "beta", "pathRegex": "/beta"}]},
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "app5-canary", "namespace": "ns5"},
            "spec": {
                "service": "app5",
                "backends": [{"service": backend, "weight": 100}],
                "matches": [{"kind": "HTTPRouteGroup", "name": "canary"}],
            },
        },
    ]


def scoped_against_full(objects: list[dict], change) -> set[str]:  # type: ignore[no-untyped-def]
    """Who a scoped recompute translates for ``change(source)``; checks that every proxy is
    then served what a full recompute serves."""
    source, scoped = chain_mesh(objects)
    full = Recomputer(SnapshotCache(), scoped.certs, TranslateOptions(), source.snapshot())
    for node, proxy in scoped.proxies().items():
        full.add(node, proxy)
    nodes = retranslated(scoped, lambda: change(source))
    full.update(scoped.catalog, full=True)
    for node in scoped.proxies():
        assert served(scoped.cache, node) == served(full.cache, node), node
    return nodes


def changed(kind: str, name: str, edit) -> dict:  # type: ignore[no-untyped-def]
    obj = copy.deepcopy(find(split_objects(), kind, name))
    edit(obj)
    return obj


def new_ip(pod: dict) -> None:
    pod["status"]["podIP"] = "10.200.0.1"


def new_path(group: dict) -> None:
    group["spec"]["matches"][0]["pathRegex"] = "/gamma"


# Split partners: app4 calls the root app5, app14 calls the backend app15 (so app5 too, through
# it); app5's and app15's own pods serve the root and the backend.
SPLIT_PARTNERS = pods_of(4, 5, 14, 15)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(changed("HTTPRouteGroup", "canary", new_path), id="split-routes"),
        pytest.param(changed("Pod", "app15-0", new_ip), id="backend-endpoints"),
        pytest.param(changed("Pod", "app5-0", new_ip), id="root-endpoints"),
    ],
)
def test_split_change_translates_its_root_and_backends_dependents(change):
    assert scoped_against_full(split_objects(), lambda s: s.apply([change])) == SPLIT_PARTNERS


def test_split_backend_service_appearing_translates_the_roots_callers():
    # The split names app5-v2 before it exists; it appears (selecting app15's pods), then goes.
    backend = copy.deepcopy(find(chain_objects(), "Service", "app15"))
    backend["metadata"]["name"] = "app5-v2"
    objects = split_objects(backend="app5-v2")
    assert scoped_against_full(objects, lambda s: s.apply([backend])) == SPLIT_PARTNERS
    assert (
        scoped_against_full([*objects, backend], lambda s: s.delete("Service", "app5-v2", "ns5"))
        == SPLIT_PARTNERS
    )


def test_change_unrelated_to_a_split_leaves_its_partners_alone():
    change = changed("Pod", "app9-0", new_ip)
    callers = pods_of(8)
    assert scoped_against_full(split_objects(), lambda s: s.apply([change])) == {"app9-0"} | callers


# -- the MeshIndex a scoped recompute derives ----------------------------------------------------
def policy_view(index: MeshIndex, identities: set[Identity]) -> dict:  # type: ignore[type-arg]
    return {
        i: (index.allowances(i), index.callers(i), index.reachable(i)) for i in sorted(identities)
    }


@pytest.mark.parametrize("seed", range(4))
def test_updated_index_answers_like_a_fresh_one(seed):
    mesh = RandomMesh(seed, permissive=seed == 3)
    source = FileSource(objects=mesh.objects(), monitored=list(NAMESPACES))
    catalog = source.snapshot()
    options = TranslateOptions()
    index = MeshIndex(catalog, options)
    identities = {Identity(ns, sa) for ns in NAMESPACES for sa in ACCOUNTS}
    for step in range(40):
        what = mesh.change()
        new = source.replace_objects(mesh.objects())
        index, _ = affected_by(diff_catalogs(catalog, new), index, new)
        catalog = new
        fresh = MeshIndex(catalog, options)
        assert policy_view(index, identities) == policy_view(fresh, identities), (step, what)


def test_updated_reuses_the_resilience_index_unless_a_policy_changed():
    source = FileSource(objects=chain_objects())
    before = source.snapshot()
    index = MeshIndex(before, TranslateOptions())
    pod = copy.deepcopy(find(chain_objects(), "Pod", "app5-0"))
    pod["status"]["podIP"] = "10.200.0.1"
    after = source.apply([pod])
    updated, _ = index.updated(after, diff_catalogs(before, after), ())
    assert updated.resilience is index.resilience  # nothing to rebuild: O(1), not O(policies)
    retry = {
        "apiVersion": "policy.openservicemesh.io/v1alpha1",
        "kind": "Retry",
        "metadata": {"name": "retry", "namespace": "ns4"},
        "spec": {
            "source": {"kind": "ServiceAccount", "name": "app4", "namespace": "ns4"},
            "destinations": [{"kind": "Service", "name": "app5", "namespace": "ns5"}],
            "retryPolicy": {"retryOn": "5xx", "numRetries": 3},
        },
    }
    final = source.apply([retry])
    rebuilt, _ = updated.updated(final, diff_catalogs(after, final), ())
    app5 = final.service("ns5", "app5")
    assert app5 is not None and updated.resilience.retry_for(Identity("ns4", "app4"), app5) is None
    assert rebuilt.resilience.retry_for(Identity("ns4", "app4"), app5) is not None


def permissive_objects() -> list[dict]:
    objects = chain_objects()
    objects[0] = copy.deepcopy(objects[0])
    objects[0]["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] = True
    return objects


@pytest.mark.parametrize("mesh_wide", ["mesh-config-changed", "permissive-flipped"])
def test_mesh_wide_change_refuses_an_incremental_index(mesh_wide):
    catalog = build_catalog(chain_objects())
    index = MeshIndex(catalog, TranslateOptions())
    if mesh_wide == "mesh-config-changed":
        diff, new = CatalogDiff(everything=True), build_catalog(chain_objects())
    else:  # even with a diff that does not say so
        diff, new = CatalogDiff(), build_catalog(permissive_objects())
    with pytest.raises(ValueError) as refused:
        index.updated(new, diff, ())
    assert str(refused.value) == "a mesh-wide change needs a new MeshIndex"


def test_mesh_index_memo_keeps_the_last_four_catalogs():
    options = TranslateOptions(connect_timeout=1.25)  # a key no other test uses
    catalogs = [build_catalog(mesh_objects(2, 2, 2)) for _ in range(5)]
    first = [mesh_index(c, options) for c in catalogs[:4]]
    assert first[0].catalog is catalogs[0]
    # Each catalog finds its own index again...
    assert all(mesh_index(c, options) is i for c, i in zip(catalogs[:4], first, strict=True))
    # ...and a fifth catalog evicts the least recently used (catalogs[1]): memory stays bounded.
    assert mesh_index(catalogs[0], options) is first[0]
    fifth = mesh_index(catalogs[4], options)
    assert mesh_index(catalogs[4], options) is fifth
    assert all(mesh_index(catalogs[i], options) is first[i] for i in (0, 2, 3))
    assert mesh_index(catalogs[1], options) is not first[1]
    # One catalog with other options gets an index of its own.
    assert mesh_index(catalogs[0], TranslateOptions(connect_timeout=1.5)) is not first[0]


# -- policies that name what they concern indirectly ---------------------------------------------
def with_port_route(kind: str, port: int) -> list[dict]:
    """The chain mesh, app9's TrafficTarget also allowing a TCP/UDP route on ``port``."""
    objects = chain_objects()
    target = find(objects, "TrafficTarget", "app9")
    target["spec"]["rules"].append({"kind": kind, "name": "app9-ports"})
    route = {"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": kind,
             "metadata": {"name": "app9-ports", "namespace": "ns9"},
             "spec": {"matches": {"ports": [port]}}}  # fmt: skip
    return [*objects, route]


@pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
def test_port_route_change_translates_the_destinations_using_it(kind):
    route = with_port_route(kind, 9090)[-1]
    assert scoped_against_full(with_port_route(kind, 8080), lambda s: s.apply([route])) == pods_of(
        9
    )


@pytest.mark.parametrize("retry_namespace", ["ns4", "ns0"])
def test_retry_translates_its_source_in_its_own_namespace(retry_namespace):
    retry = {
        "apiVersion": "policy.openservicemesh.io/v1alpha1",
        "kind": "Retry",
        "metadata": {"name": "retry", "namespace": retry_namespace},
        "spec": {
            "source": {"kind": "ServiceAccount", "name": "app4", "namespace": "ns4"},
            "destinations": [{"kind": "Service", "name": "app5", "namespace": "ns5"}],
            "retryPolicy": {"retryOn": "5xx", "numRetries": 3},
        },
    }
    assert scoped_against_full(chain_objects(), lambda s: s.apply([retry])) == pods_of(4)


def test_service_newly_selecting_pods_translates_them_and_their_callers():
    # The pods themselves are unchanged: only which services they are in.
    service = copy.deepcopy(find(chain_objects(), "Service", "app5"))
    service["metadata"]["name"] = "app5-admin"
    service["spec"]["ports"] = [{"name": "http-admin", "port": 81, "targetPort": 8081}]
    assert scoped_against_full(chain_objects(), lambda s: s.apply([service])) == pods_of(4, 5)


def test_proxy_naming_its_pod_is_translated_when_the_pod_appears():
    source, engine = chain_mesh()
    engine.add("early", ProxyIdentity("uuid-early", Identity("ns5", "app5"), "app5-9"))
    pod = copy.deepcopy(find(chain_objects(), "Pod", "app5-0"))
    pod["metadata"]["name"] = "app5-9"
    pod["metadata"]["labels"]["osm-proxy-uuid"] = "not-the-proxys"
    pod["status"]["podIP"] = "10.200.0.1"
    assert retranslated(engine, lambda: source.apply([pod])) == {"early"} | pods_of(4)


def test_permissive_mode_new_service_translates_every_proxy():
    service = copy.deepcopy(find(chain_objects(), "Service", "app5"))
    service["metadata"]["name"] = "app5-admin"
    everyone = pods_of(*range(20))  # each may call the new service
    assert scoped_against_full(permissive_objects(), lambda s: s.apply([service])) == everyone


def test_dependents_know_which_proxies_they_hold():
    dependents = Dependents()
    proxy = ProxyIdentity("uuid-1", Identity("ns5", "app5"))
    for node in ("b", "a"):
        dependents.record(node, proxy, Dependencies(("ns5", "app5-0"), frozenset({("ns5", "x")})))
    assert ("a" in dependents, "c" in dependents) == (True, False)
    assert (dependents.nodes(), len(dependents)) == (["a", "b"], 2)
    dependents.remove("a")
    assert ("a" in dependents, dependents.nodes()) == (False, ["b"])


def test_dependents_forget_what_a_proxy_no_longer_depends_on():
    index = MeshIndex(build_catalog(chain_objects()), TranslateOptions())  # app4 may call app5
    app4, app5 = Identity("ns4", "app4"), Identity("ns5", "app5")
    proxy = ProxyIdentity("uuid-4", app4, pod_name="app4-named")
    depends = Dependencies(
        ("ns4", "app4-0"), frozenset({("ns5", "app5")}), frozenset({("ns5", "app6")}), True
    )
    changes = {
        "its policy": Affected(allowances={app4}),
        "its reach": Affected(reach={app4}),
        "its callee's pods": Affected(members={app5}),
        "any service (it calls all)": Affected(services={("ns9", "app9")}),
        "a service it calls": Affected(services={("ns5", "app5")}),
        "endpoints it holds": Affected(endpoints={("ns5", "app6")}),
        "its pod": Affected(pods={("ns4", "app4-0")}),
        "the pod it names": Affected(pods={("ns4", "app4-named")}),
        "its uuid": Affected(uuids={"uuid-4"}),
    }

    def concerned(dependents: Dependents) -> list[str]:
        return [what for what, c in changes.items() if dependents.affected(c, index, index)]

    dependents = Dependents()
    dependents.record("node", proxy, depends)
    assert concerned(dependents) == list(changes)
    # The same node, now another proxy with other dependencies: nothing of the first one stays.
    dependents.record("node", ProxyIdentity("uuid-7", Identity("ns7", "app7")), Dependencies())
    assert concerned(dependents) == []
    dependents.record("node", proxy, depends)
    dependents.remove("node")
    assert concerned(dependents) == []


def test_index_evaluates_each_destinations_allowances_once():
    # Every proxy's RBAC reads them: one evaluation of the TrafficTargets per catalog.
    index = MeshIndex(build_catalog(chain_objects()), TranslateOptions())
    allowances = index.allowances(Identity("ns5", "app5"))
    assert allowances and index.allowances(Identity("ns5", "app5")) is allowances


def test_split_backend_answers_to_the_roots_names_only_on_ports_it_has_endpoints_on():
    # app15's port 80 targets a named port only app15-0 declares, and app15-0 has no IP yet
    # (the catalog has not seen it): the root app5 sends port 80 to itself, port 81 to app15.
    objects = split_objects()
    find(objects, "Service", "app15")["spec"]["ports"] = [
        {"name": "http", "port": 80, "targetPort": "web"},
        {"name": "http-alt", "port": 81, "targetPort": 8080},
    ]
    pod = find(objects, "Pod", "app15-0")
    pod["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 8080}]
    del pod["status"]["podIP"]
    catalog = build_catalog(objects)
    proxy = ProxyIdentity(pod["metadata"]["labels"]["osm-proxy-uuid"], Identity("ns5", "app15"))
    resources = translate(catalog, proxy, TranslateOptions())
    root_names = {
        v.name: sorted(d for d in v.domains if d.startswith("app5"))
        for v in resources.routes[names.INBOUND_ROUTE].virtual_hosts
    }
    assert root_names == {
        "inbound|ns5/app15|80": [],
        "inbound|ns5/app15|81": ["app5.ns5.svc.cluster.local:81", "app5.ns5.svc:81",
                                 "app5.ns5:81", "app5:81"],
    }  # fmt: skip
