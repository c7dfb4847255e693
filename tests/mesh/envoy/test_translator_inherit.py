"""An inherited Translator (the next catalog's, keeping what a change cannot have touched):
every proxy gets from it exactly what a fresh Translator gives, unaffected proxies get the
very objects they had (nothing unaffected is built twice), and what only departed pods
could use is forgotten.

``test_scope.py`` checks the same promise through the Recomputer, for the proxies each change
affects; here every proxy is translated by the inherited Translator after every change, which
a memo kept by mistake cannot pass. Small and fast on purpose: it is in the subset
``make mutation`` runs per mutant.
"""

from __future__ import annotations

import copy
import functools

import pytest

from osm_mesh.catalog import FileSource, Identity
from osm_mesh.catalog.diff import diff_catalogs
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.scope import affected_by
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, Translator
from tests.mesh.envoy.random_mesh import NAMESPACES, RandomMesh
from tests.mesh.envoy.test_scope import engines, proxies_for, served

CA = CertificateAuthority.create()


@functools.cache
def cert_of(identity: Identity):  # type: ignore[no-untyped-def]
    return CA.issue(identity)


def proxies_of(catalog) -> dict[str, ProxyIdentity]:  # type: ignore[no-untyped-def]
    return {
        f"{pod.namespace}/{pod.name}": ProxyIdentity(pod.proxy_uuid or "", pod.identity)
        for pod in catalog.pods
    }


def wire(translator: Translator, proxy: ProxyIdentity) -> dict[str, dict[str, bytes]]:
    """What the proxy would be served: every resource as its bytes, by type and name."""
    resources = translator.translate(proxy, cert_of(proxy.identity))
    return {
        type_url: {name: msg.SerializeToString(deterministic=True) for name, msg in group.items()}
        for type_url, group in resources.flat().items()
    }


EVERY_POD = object()


def step(source: FileSource, translator: Translator, objects, live=EVERY_POD):  # type: ignore[no-untyped-def]
    """The next catalog's (inherited, fresh) Translators; ``live``: the certificates held
    (default: those of the new catalog's pods)."""
    old = translator.index
    catalog = source.replace_objects(objects)
    index, affected = affected_by(diff_catalogs(old.catalog, catalog), old, catalog)
    if live is EVERY_POD:
        live = {cert_of(p.identity).cert_pem for p in catalog.pods}
    inherited = Translator.inherited(translator, index, affected, live_certs=live)
    return inherited, Translator(MeshIndex(catalog, old.options))


@pytest.mark.parametrize(
    ("seed", "mode", "permissive"),
    [(0, "cluster", False), (1, "local", False), (2, "cluster", True), (3, "local", True)],
)
def test_an_inherited_translator_serves_every_proxy_what_a_fresh_one_does(seed, mode, permissive):
    mesh = RandomMesh(seed, permissive=permissive)
    source = FileSource(objects=mesh.objects(), monitored=list(NAMESPACES))
    translator = Translator(MeshIndex(source.snapshot(), TranslateOptions(mode=mode)))
    for proxy in proxies_of(source.snapshot()).values():
        translator.translate(proxy, cert_of(proxy.identity))
    for n in range(12):
        what = [mesh.change() for _ in range(1 if n % 3 else 2)]
        inherited, fresh = step(source, translator, mesh.objects())
        for node, proxy in proxies_of(fresh.index.catalog).items():
            assert wire(inherited, proxy) == wire(fresh, proxy), (n, what, node)
        translator = inherited


def chain():  # type: ignore[no-untyped-def]
    """Six apps of two replicas in one namespace; app<i> may call app<i+1> (SMI mode)."""
    from benchmarks.bench_catalog import mesh_objects

    return mesh_objects(services=6, pods=12, targets=6)


def find(objects, kind: str, name: str):  # type: ignore[no-untyped-def]
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.mark.parametrize("mode", ["cluster", "local"])
def test_proxies_a_change_cannot_affect_get_the_very_same_resources(mode):
    objects = chain()
    source = FileSource(objects=objects)
    translator = Translator(MeshIndex(source.snapshot(), TranslateOptions(mode=mode)))
    proxies = proxies_of(source.snapshot())
    before = {node: translator.translate(p, cert_of(p.identity)) for node, p in proxies.items()}
    # An HTTPRouteGroup used by app3's TrafficTarget changes: only app3's inbound policy.
    changed = copy.deepcopy(find(objects, "HTTPRouteGroup", "app3-routes"))
    changed["spec"]["matches"][0]["pathRegex"] = "/other"
    objects = [
        changed if o is find(objects, "HTTPRouteGroup", "app3-routes") else o for o in objects
    ]
    inherited, fresh = step(source, translator, objects)
    kept = set()
    for node, proxy in proxies.items():
        after = inherited.translate(proxy, cert_of(proxy.identity))
        assert wire(inherited, proxy) == wire(fresh, proxy), node
        # The served resources of a proxy are one shared bundle: the very same one, or one
        # whose outbound side is still the very same (only the inbound side was rebuilt).
        if after.typed is before[node].typed:
            kept.add(node.split("/")[1])
        else:
            assert after.outbound_clusters is before[node].outbound_clusters, node
            assert after.endpoints is before[node].endpoints, node
    assert {n.split("/")[1] for n in proxies} - kept == {"app3-0", "app3-1"}


def test_a_changed_service_endpoint_rebuilds_its_callers_tables_only():
    objects = chain()
    source = FileSource(objects=objects)
    translator = Translator(MeshIndex(source.snapshot(), TranslateOptions()))
    proxies = proxies_of(source.snapshot())
    before = {node: translator.translate(p, cert_of(p.identity)) for node, p in proxies.items()}
    pod = copy.deepcopy(find(objects, "Pod", "app4-0"))
    pod["status"]["podIP"] = "10.200.0.1"
    objects = [pod if o["kind"] == "Pod" and o["metadata"]["name"] == "app4-0" else o
               for o in objects]  # fmt: skip
    inherited, fresh = step(source, translator, objects)
    rebuilt, kept = set(), set()
    for node, proxy in proxies.items():
        after = inherited.translate(proxy, cert_of(proxy.identity))
        assert wire(inherited, proxy) == wire(fresh, proxy), node
        if after.endpoints is not before[node].endpoints:
            rebuilt.add(node.split("/")[1])
        if after.typed is before[node].typed:
            kept.add(node.split("/")[1])
    assert rebuilt == {"app3-0", "app3-1"}  # app4's callers: their EDS endpoints changed
    # app4's own pods get their inbound side again (a member changed); nobody else anything.
    assert {n.split("/")[1] for n in proxies} - kept == {"app3-0", "app3-1", "app4-0", "app4-1"}


def test_what_only_departed_pods_could_use_is_forgotten():
    objects = chain()
    source = FileSource(objects=objects)
    for mode in ("cluster", "local"):
        options = TranslateOptions(mode=mode)  # type: ignore[arg-type]
        translator = Translator(MeshIndex(source.replace_objects(objects), options))
        for proxy in proxies_of(translator.index.catalog).values():
            translator.translate(proxy, cert_of(proxy.identity))
        full = translator.sizes()
        # app5's two pods leave (its Service and policies stay).
        remaining = [
            o
            for o in objects
            if o["kind"] != "Pod" or not o["metadata"]["name"].startswith("app5-")
        ]
        inherited, fresh = step(source, translator, remaining)
        for proxy in proxies_of(fresh.index.catalog).values():
            inherited.translate(proxy, cert_of(proxy.identity))
            fresh.translate(proxy, cert_of(proxy.identity))
        # No more than a fresh Translator needs for the proxies left: app5's inbound
        # resources (per pod address in local mode), outbound table, certificate, bundles
        # and, in local mode, the listeners on its two pods' addresses are gone.
        assert inherited.sizes() == fresh.sizes(), mode
        per_pod = 2 if mode == "local" else 1
        assert full["inbound"] - inherited.sizes()["inbound"] == per_pod
        assert full["outbound_tables"] - inherited.sizes()["outbound_tables"] == 1
        assert full["secrets"] - inherited.sizes()["secrets"] == 1
        assert full["bundles"] - inherited.sizes()["bundles"] == per_pod
        lost = 2 if mode == "local" else 0
        assert full["outbound_listeners"] - inherited.sizes()["outbound_listeners"] == lost


def test_certificates_no_longer_held_are_forgotten_and_held_ones_kept():
    objects = chain()
    source = FileSource(objects=objects)
    translator = Translator(MeshIndex(source.snapshot(), TranslateOptions()))
    proxies = proxies_of(source.snapshot())
    for proxy in proxies.values():
        translator.translate(proxy, cert_of(proxy.identity))
    held = {cert_of(p.identity).cert_pem for p in proxies.values()}
    assert translator.sizes()["secrets"] == len(held) == 6
    proxy = next(iter(proxies.values()))
    one = cert_of(proxy.identity)
    secrets = translator.translate(proxy, one).secrets
    inherited, _ = step(source, translator, objects, live=[one.cert_pem])  # a list, not a set
    assert inherited.sizes()["secrets"] == 1
    assert inherited.translate(proxy, one).secrets == secrets
    assert all(
        inherited.translate(proxy, one).secrets[name] is message
        for name, message in secrets.items()
    )
    # None: nothing known about what is held, nothing dropped.
    inherited, _ = step(source, translator, objects, live=None)
    assert inherited.sizes()["secrets"] == 6


@pytest.mark.parametrize(
    ("seed", "mode", "permissive"),
    [(4, "cluster", False), (5, "local", False), (6, "cluster", True), (7, "local", True)],
)
def test_a_scoped_recompute_serves_what_a_full_one_does(seed, mode, permissive):
    """Through the Recomputer: only the proxies a change affects are translated again (the
    dependencies each translation records), on an inherited Translator; every proxy's
    served bytes equal a full recompute's. ``test_scope.py`` runs longer sequences."""
    mesh = RandomMesh(seed, permissive=permissive)
    source = FileSource(objects=mesh.objects(), monitored=list(NAMESPACES))
    scoped, full = engines(source, mode)
    nodes = proxies_for(mesh, seed)
    for node, proxy in nodes.items():
        scoped.add(node, proxy)
        full.add(node, proxy)
    for n in range(15):
        what = [mesh.change() for _ in range(1 if n % 3 else 2)]
        catalog = source.replace_objects(mesh.objects())
        scoped.update(catalog)
        full.update(catalog, full=True)
        for node in nodes:
            assert served(scoped.cache, node) == served(full.cache, node), (n, what, node)
