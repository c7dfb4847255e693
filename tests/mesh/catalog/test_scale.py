"""The issue's scale: building and querying stays linear (no O(n^2) scans)."""

from __future__ import annotations

import time

from benchmarks.bench_catalog import mesh_objects
from osm_mesh.catalog import Identity, build_catalog
from osm_mesh.policy import allowed_routes


def test_large_catalog_builds_fast_and_indexes_correctly():
    objects = mesh_objects()
    start = time.perf_counter()
    catalog = build_catalog(objects)
    elapsed = time.perf_counter() - start
    # The budget for catalog + translation is 1 s; the catalog alone takes ~60 ms here.
    # 0.75 s leaves room for a loaded CI machine while still catching quadratic code.
    assert elapsed < 0.75, elapsed
    assert len(catalog.services) == 1000 and len(catalog.pods) == 2000
    assert all(len(catalog.pods_of_service(s)) == 2 for s in catalog.services)
    app5, app4 = Identity("ns5", "app5"), Identity("ns4", "app4")
    assert [m.name for m in allowed_routes(catalog, app4, app5).http] == ["read"]
    assert not allowed_routes(catalog, app5, app4).allowed
