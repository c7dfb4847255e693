"""Incremental catalogs equal full builds of the same objects, tables included."""

from __future__ import annotations

import copy

import pytest

from benchmarks.bench_catalog import mesh_objects
from osm_mesh.catalog import FileSource, build_catalog
from osm_mesh.catalog.diff import diff_catalogs
from osm_mesh.catalog.model import Catalog
from tests.mesh.envoy.random_mesh import NAMESPACES, RandomMesh


def assert_same(incremental: Catalog, full: Catalog, context: object) -> None:
    for name in vars(full):
        if name in ("_ix", "version"):
            continue
        mine, theirs = getattr(incremental, name), getattr(full, name)
        if name == "problems":  # in the order documents were first seen: compare as sets
            mine, theirs = sorted(map(repr, mine)), sorted(map(repr, theirs))
        assert mine == theirs, (context, name)
    a, b = incremental.lookup_tables(), full.lookup_tables()
    for name in vars(b):
        assert getattr(a, name) == getattr(b, name), (context, name)
    assert diff_catalogs(incremental, full).empty, context


@pytest.mark.parametrize("seed", range(10))
def test_random_changes_match_full_builds(seed):
    mesh = RandomMesh(seed, permissive=seed % 3 == 2)
    source = FileSource(objects=mesh.objects(), monitored=list(NAMESPACES))
    for step in range(60):
        before = dict(mesh.world)
        what = [mesh.change() for _ in range(1 if step % 4 else 3)]
        if step % 2:
            source.replace_objects(mesh.objects())
        else:  # kubectl-style: apply the changed objects, delete the removed ones
            changed = [o for k, o in mesh.world.items() if before.get(k) is not o]
            if changed:
                source.apply(changed)
            for kind, ns, name in (k for k in before if k not in mesh.world):
                source.delete(kind, name, ns)
        full = build_catalog(mesh.objects(), monitored=list(NAMESPACES))
        assert_same(source.snapshot(), full, (step, what))
    builder = source._builder
    # Most changes were incremental (MeshConfig changes and new namespaces are rebuilt).
    assert builder.incremental_builds > 2 * builder.full_builds, vars(builder)


def test_incremental_build_shares_untouched_objects_and_tables():
    objects = mesh_objects(services=50, pods=100, targets=50)
    source = FileSource(objects=objects)
    old = source.snapshot()
    target = copy.deepcopy(next(o for o in objects if o["kind"] == "TrafficTarget"))
    target["spec"]["sources"][0]["name"] = "app7"
    new = source.apply([target])
    assert new.services is old.services and new.pods is old.pods
    a, b = old.lookup_tables(), new.lookup_tables()
    assert a.pods_by_service is b.pods_by_service and a.services_by_pod is b.services_by_pod
    assert a.targets_by_destination is not b.targets_by_destination
    diff = diff_catalogs(old, new)
    assert diff.targets_to and not (diff.services or diff.pods or diff.endpoints)
