"""The big-manifest benchmark's file (benchmarks/bench_local_big.py) is what it says."""

from __future__ import annotations

from benchmarks.bench_local_big import CONFIG_MAPS_PER_NAMESPACE, NAMESPACES, write_big_manifest
from osm_mesh.local.inputs import check_documents, load_documents


def test_the_generated_manifest_is_lint_clean_and_as_big_as_announced(tmp_path):
    path = tmp_path / "big.yaml"
    count = write_big_manifest(path, namespaces=10)
    documents = load_documents([path])
    assert len(documents) == count == 10 * (5 + CONFIG_MAPS_PER_NAMESPACE) + 9
    report = check_documents(documents)  # raises on any error
    assert {d.obj["kind"] for d in documents} >= {"Deployment", "MeshConfig", "TrafficTarget"}
    assert report.ok
    # At full size: 25,000+ objects in ~9 MB (the size grows linearly with the namespaces).
    assert NAMESPACES * (5 + CONFIG_MAPS_PER_NAMESPACE) >= 25_000
    assert path.stat().st_size * NAMESPACES / 10 > 8.5e6
