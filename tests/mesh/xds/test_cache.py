"""SnapshotCache: per-type versions, shared serialization, watchers."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2

from osm_mesh.xds.cache import CLUSTER, ENDPOINT, LISTENER, ROUTE, SnapshotCache


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


def test_versions_count_from_one_per_snapshot_and_nodes_are_kept_apart():
    cache = SnapshotCache()
    a = cache.set_snapshot("a", {CLUSTER: {"c": cluster_pb2.Cluster(name="c")}})
    b = cache.set_snapshot("b", {CLUSTER: {"d": cluster_pb2.Cluster(name="d")}})
    assert (a.version, b.version, cache.version) == (1, 2, 2)
    assert cache.get("a") is a and cache.get("b") is b and cache.get("c") is None
    assert cache.nodes() == ["a", "b"]
    cache.clear("a")
    assert cache.get("a") is None and cache.nodes() == ["b"]
    assert cache.sizes() == {"snapshots": 1, "watched": 0}


def test_packed_resources_are_typed_and_sorted_and_survive_an_unchanged_type():
    cache = SnapshotCache()
    clusters = {n: cluster_pb2.Cluster(name=n) for n in ("b", "a")}
    first = cache.set_snapshot("n", {CLUSTER: clusters})
    listeners = {LISTENER: {"l": listener_pb2.Listener(name="l")}}
    second = cache.set_snapshot("n", {CLUSTER: dict(clusters), **listeners})
    assert second.type_versions[CLUSTER] == first.type_versions[CLUSTER] == "1"
    assert second.type_versions[LISTENER] == "2"
    packed = second.packed(CLUSTER)
    assert list(packed) == ["a", "b"]
    assert {a.type_url for a in packed.values()} == {CLUSTER}
    assert cluster_pb2.Cluster.FromString(packed["a"].value).name == "a"
    assert second.packed(ENDPOINT) == {}


def test_map_fields_in_another_order_are_the_same_version():
    """Serialization is deterministic: a map (typed_per_filter_config here) filled in another
    order is the same content, not a new version that every proxy would be sent again."""
    cache = SnapshotCache()

    def route(order):
        config = route_pb2.RouteConfiguration(name="r")
        vhost = config.virtual_hosts.add(name="v")
        for key in order:
            vhost.typed_per_filter_config[key].type_url = f"type.googleapis.com/{key}"
        return {ROUTE: {"r": config}}

    keys = [f"filter-{i}" for i in range(40)]
    first = cache.set_snapshot("n", route(keys))
    second = cache.set_snapshot("n", route(list(reversed(keys))))
    assert second.type_versions[ROUTE] == first.type_versions[ROUTE]
    # Two proxies handed the same content in another order are sent the same bytes.
    both = cache.set_snapshots({"a": route(keys), "b": route(list(reversed(keys)))})
    assert both["a"].serialized[ROUTE]["r"] == both["b"].serialized[ROUTE]["r"]


def test_every_watcher_of_every_node_in_a_batch_is_told_and_unwatch_forgets_the_node():
    cache = SnapshotCache()
    seen: list[tuple[str, int]] = []
    unwatch = [
        cache.watch(node, lambda snap, tag=f"{node}{i}": seen.append((tag, snap.version)))
        for node in ("a", "b")
        for i in (1, 2)
    ]
    assert cache.sizes()["watched"] == 2
    cache.set_snapshots({"a": {}, "b": {}})
    assert sorted(seen) == [("a1", 1), ("a2", 1), ("b1", 2), ("b2", 2)]
    unwatch[0]()
    assert cache.sizes()["watched"] == 2  # a still has a watcher
    unwatch[1]()
    assert cache.sizes()["watched"] == 1
    unwatch[1]()  # twice is harmless
    seen.clear()
    cache.set_snapshots({"a": {}, "b": {}})
    assert [tag for tag, _ in seen] == ["b1", "b2"]


def test_one_message_in_several_groups_of_a_batch_is_sent_as_itself_everywhere():
    """A resource object handed to several proxies in different groups (one batch) is
    serialized once and reused: every proxy must still get that resource's own bytes."""
    shared = cluster_pb2.Cluster(name="shared", alt_stat_name="s")
    cache = SnapshotCache()
    snaps = cache.set_snapshots(
        {
            "n1": {CLUSTER: {"shared": shared}},
            "n2": {CLUSTER: {"shared": shared, "own": cluster_pb2.Cluster(name="own")}},
            "n3": {CLUSTER: [{"x": cluster_pb2.Cluster(name="x")}, {"shared": shared}]},
        }
    )
    for node, snap in snaps.items():
        sent = cluster_pb2.Cluster.FromString(snap.packed(CLUSTER)["shared"].value)
        assert sent == shared, node


def test_clearing_a_node_without_a_snapshot_is_harmless():
    """A proxy can depart before its first snapshot (the server forgets it all the same)."""
    cache = SnapshotCache()
    cache.set_snapshot("kept", {})
    cache.clear("never-seen")
    cache.clear("kept")
    cache.clear("kept")
    assert cache.nodes() == []


def test_a_type_the_snapshot_does_not_hold_packs_to_nothing():
    snap = SnapshotCache().set_snapshot("n", {CLUSTER: {"a": cluster_pb2.Cluster(name="a")}})
    assert snap.packed("type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration") == {}


def test_the_same_group_objects_again_keep_their_resources_and_version():
    """A proxy handed the very same group objects (nothing changed for it) keeps the type's
    resources and version; a type that grows from one group to two changes."""
    cache = SnapshotCache()
    clusters = {"a": cluster_pb2.Cluster(name="a")}
    first = cache.set_snapshot("n", {CLUSTER: clusters})
    second = cache.set_snapshot("n", {CLUSTER: clusters, LISTENER: {"l": listener_pb2.Listener()}})
    assert second.resources[CLUSTER] == clusters
    assert second.type_versions[CLUSTER] == first.type_versions[CLUSTER] == "1"
    assert cluster_pb2.Cluster.FromString(second.packed(CLUSTER)["a"].value) == clusters["a"]
    third = cache.set_snapshot("n", {CLUSTER: [clusters, {"b": cluster_pb2.Cluster(name="b")}]})
    assert sorted(third.resources[CLUSTER]) == ["a", "b"]
    assert third.type_versions[CLUSTER] == str(third.version)


def test_a_type_whose_groups_hold_the_same_messages_is_not_serialized_again(monkeypatch):
    """A proxy translated again gets new group dicts; where they hold the same messages (a
    route change leaves its clusters alone) the type's bytes and version are reused as they
    are, nothing is serialized or hashed again."""
    from osm_mesh.xds import cache as cache_module

    clusters = {n: cluster_pb2.Cluster(name=n) for n in ("a", "b")}
    table = route_pb2.RouteConfiguration(name="r")
    cache = SnapshotCache()
    first = cache.set_snapshot("n", {CLUSTER: [dict(clusters)], ROUTE: {"r": table}})
    serialized = []
    real = cache_module._serialize
    monkeypatch.setattr(
        cache_module, "_serialize", lambda msg, memo: serialized.append(msg) or real(msg, memo)
    )
    changed = route_pb2.RouteConfiguration(name="r", validate_clusters={"value": True})
    second = cache.set_snapshot("n", {CLUSTER: [dict(clusters)], ROUTE: {"r": changed}})
    assert serialized == [changed]  # the route table only
    assert second.serialized[CLUSTER] is first.serialized[CLUSTER]
    assert second.type_versions[CLUSTER] == first.type_versions[CLUSTER]
    assert second.type_versions[ROUTE] != first.type_versions[ROUTE]


def test_replicas_handed_one_resources_object_each_get_their_snapshot():
    cache = SnapshotCache()
    shared = {CLUSTER: {"a": cluster_pb2.Cluster(name="a")}}
    snaps = cache.set_snapshots({"r1": shared, "r2": shared, "other": {}})
    assert sorted(snaps) == ["other", "r1", "r2"] == cache.nodes()
    assert snaps["r1"].version != snaps["r2"].version
    for node in ("r1", "r2"):
        assert snaps[node].resources[CLUSTER] == shared[CLUSTER]
        sent = snaps[node].packed(CLUSTER)["a"].value
        assert cluster_pb2.Cluster.FromString(sent) == shared[CLUSTER]["a"]
    assert snaps["other"].packed(CLUSTER) == {}


def test_what_proxies_share_is_held_once():
    """Memory at scale (issue 11): a message handed to many proxies is serialized into one
    bytes object, and proxies handed the same groups share one table of them."""
    message = cluster_pb2.Cluster(name="m")
    group = {"m": message}
    cache = SnapshotCache()
    snaps = cache.set_snapshots(
        {
            "a": {CLUSTER: [group]},
            "b": {CLUSTER: [group]},
            "c": {CLUSTER: {"m": message, "n": cluster_pb2.Cluster(name="n")}},
        }
    )
    a, b, c = (snaps[n].serialized[CLUSTER] for n in "abc")
    assert a is b
    assert a["m"] is c["m"]


def test_a_batch_serializes_each_shared_group_once(monkeypatch):
    """Scale (issue 13): 1,000 proxies handed one mesh-wide group cost one serialization of
    its messages per batch, not one per proxy; each proxy's own group is serialized once."""
    from osm_mesh.xds import cache as cache_module

    shared = {n: cluster_pb2.Cluster(name=n) for n in ("a", "b", "c")}
    serialized = []
    real = cache_module._serialize
    monkeypatch.setattr(
        cache_module, "_serialize", lambda msg, memo: serialized.append(msg) or real(msg, memo)
    )
    batch = {
        f"n{i}": {CLUSTER: [shared, {f"own{i}": cluster_pb2.Cluster(name=f"own{i}")}]}
        for i in range(50)
    }
    SnapshotCache().set_snapshots(batch)
    assert len(serialized) == 3 + 50
    assert sorted(m.name for m in serialized[:3]) == ["a", "b", "c"]


def test_replicas_handed_one_resources_object_are_compared_once(monkeypatch):
    """Replicas of a workload share one Resources object (Resources.by_type of a shared
    bundle): a new batch compares it with the previous snapshot once, not once per replica."""
    from osm_mesh.xds import cache as cache_module

    cache = SnapshotCache()
    bundle = {CLUSTER: {"a": cluster_pb2.Cluster(name="a")}, ROUTE: {}}
    replicas = [f"r{i}" for i in range(20)]
    first = cache.set_snapshots(dict.fromkeys(replicas, bundle))
    compared = []
    real = cache_module._same_parts
    monkeypatch.setattr(cache_module, "_same_parts", lambda a, b: compared.append(a) or real(a, b))
    again = cache.set_snapshots(dict.fromkeys(replicas, bundle))
    assert len(compared) == len(cache_module.PUSH_ORDER)
    for r in replicas:  # unchanged: each replica keeps its own version of every type
        assert again[r].type_versions == first[r].type_versions
        assert again[r].version > first[r].version
