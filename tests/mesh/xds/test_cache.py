"""SnapshotCache: per-type versions, shared serialization, watchers."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2

from osm_mesh.xds.cache import CLUSTER, LISTENER, SnapshotCache


def test_shared_groups_are_serialized_once_and_shared():
    shared = {n: cluster_pb2.Cluster(name=n) for n in ("a", "b")}
    cache = SnapshotCache()
    snaps = cache.set_snapshots(
        {
            "n1": {CLUSTER: [{"own1": cluster_pb2.Cluster(name="own1")}, shared]},
            "n2": {CLUSTER: [{"own2": cluster_pb2.Cluster(name="own2")}, shared]},
        }
    )
    one, two = snaps["n1"], snaps["n2"]
    assert sorted(one.resources[CLUSTER]) == ["a", "b", "own1"]
    assert one.serialized[CLUSTER]["a"] is two.serialized[CLUSTER]["a"]
    assert one.version != two.version
    packed = one.packed(CLUSTER)
    assert list(packed) == ["a", "b", "own1"]
    assert cluster_pb2.Cluster.FromString(packed["own1"].value).name == "own1"


def test_watchers_see_new_snapshots_until_unwatched():
    cache = SnapshotCache()
    seen = []
    unwatch = cache.watch("n", seen.append)
    first = cache.set_snapshot("n", {LISTENER: {"l": listener_pb2.Listener(name="l")}})
    cache.set_snapshot("other", {})
    unwatch()
    cache.set_snapshot("n", {})
    assert seen == [first]
    assert cache.nodes() == ["n", "other"]
    cache.clear("other")
    assert cache.get("other") is None


def test_equal_content_keeps_type_version_even_from_new_objects():
    cache = SnapshotCache()
    a = cache.set_snapshot("n", {CLUSTER: {"a": cluster_pb2.Cluster(name="a")}})
    b = cache.set_snapshot("n", {CLUSTER: {"a": cluster_pb2.Cluster(name="a")}})
    assert b.type_versions[CLUSTER] == a.type_versions[CLUSTER]
    c = cache.set_snapshot("n", {CLUSTER: {"a": cluster_pb2.Cluster(name="a", alt_stat_name="x")}})
    assert c.type_versions[CLUSTER] == str(c.version)
