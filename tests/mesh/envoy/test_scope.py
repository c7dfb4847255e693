"""Scoped recompute: byte-identical to a full recompute, and unaffected proxies left alone.

The property test drives two Recomputers through the same random change sequences: one
recomputes only the proxies each change can affect, the other translates every proxy every
time. After each step every proxy's served bytes (each resource as serialized for the wire)
must be the same in both.
"""

from __future__ import annotations

import copy
import random

import pytest

from benchmarks.bench_catalog import mesh_objects
from osm_mesh.catalog import FileSource, Identity
from osm_mesh.certs import CertificateAuthority, CertManager
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions
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
def chain_mesh() -> tuple[FileSource, Recomputer]:
    """20 apps x 2 pods; app<i>'s TrafficTarget lets app<i-1> call it (benchmarks' shape)."""
    objects = mesh_objects(services=20, pods=40, targets=20)
    source = FileSource(objects=objects)
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
    target = copy.deepcopy(find(mesh_objects(20, 40, 20), "TrafficTarget", "app5"))
    target["spec"]["sources"] = [{"kind": "ServiceAccount", "name": "app7", "namespace": "ns7"}]
    assert retranslated(engine, lambda: source.apply([target])) == pods_of(5, 4, 7)
    # And back: the same three identities again, nobody else.
    original = find(mesh_objects(20, 40, 20), "TrafficTarget", "app5")
    assert retranslated(engine, lambda: source.apply([original])) == pods_of(5, 4, 7)


def test_endpoint_change_translates_the_pod_and_its_callers_not_its_sibling():
    source, engine = chain_mesh()
    pod = copy.deepcopy(find(mesh_objects(20, 40, 20), "Pod", "app5-0"))
    pod["status"]["podIP"] = "10.200.0.1"
    assert retranslated(engine, lambda: source.apply([pod])) == {"app5-0"} | pods_of(4)


def test_route_group_change_translates_the_destinations_using_it():
    source, engine = chain_mesh()
    group = copy.deepcopy(find(mesh_objects(20, 40, 20), "HTTPRouteGroup", "app9-routes"))
    group["spec"]["matches"][0]["pathRegex"] = "/other"
    assert retranslated(engine, lambda: source.apply([group])) == pods_of(9)


def test_change_nobody_depends_on_translates_nobody():
    source, engine = chain_mesh()
    unused = copy.deepcopy(find(mesh_objects(20, 40, 20), "HTTPRouteGroup", "app9-routes"))
    unused["metadata"]["name"] = "unused"
    assert retranslated(engine, lambda: source.apply([unused])) == set()
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "new", "namespace": "ns3"}}  # fmt: skip
    assert retranslated(engine, lambda: source.apply([account])) == set()


def test_mesh_config_change_translates_everyone():
    source, engine = chain_mesh()
    config = copy.deepcopy(mesh_objects(20, 40, 20)[0])
    config["spec"]["traffic"]["enablePermissiveTrafficPolicyMode"] = True
    assert retranslated(engine, lambda: source.apply([config])) == set(engine.proxies())
