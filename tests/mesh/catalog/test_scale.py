"""The issue's scale: 1,000 services / 2,000 pods index correctly. How long it takes is
`make bench` (bench_catalog), not a timed test: wall time on a shared machine is not a verdict."""

from __future__ import annotations

from benchmarks.bench_catalog import mesh_objects
from osm_mesh.catalog import Identity, build_catalog
from osm_mesh.policy import allowed_routes


def test_large_catalog_indexes_correctly():
    catalog = build_catalog(mesh_objects())
    assert len(catalog.services) == 1000 and len(catalog.pods) == 2000
    assert all(len(catalog.pods_of_service(s)) == 2 for s in catalog.services)
    app5, app4 = Identity("ns5", "app5"), Identity("ns4", "app4")
    assert [m.name for m in allowed_routes(catalog, app4, app5).http] == ["read"]
    assert not allowed_routes(catalog, app5, app4).allowed
