"""ConvergenceTracker: pending from a stream's opening or a new snapshot until all is ACKed."""

from __future__ import annotations

from osm_mesh.convergence import ConvergenceTracker
from osm_mesh.envoy import pb
from osm_mesh.xds.cache import LISTENER, ROUTE, SnapshotCache
from osm_mesh.xds.protocol import ProxyStatus


def setup():  # type: ignore[no-untyped-def]
    cache = SnapshotCache()
    statuses: dict[str, ProxyStatus] = {}
    tracker = ConvergenceTracker(cache.get, statuses.get)
    return cache, statuses, tracker


def route(name: str, domain: str) -> pb.RouteConfiguration:
    return pb.RouteConfiguration(
        name=name, virtual_hosts=[pb.VirtualHost(name=domain, domains=[domain])]
    )


def ack_all(status: ProxyStatus, cache: SnapshotCache) -> None:
    snap = cache.get(status.node_id)
    assert snap is not None
    status.acked = dict(snap.type_versions)


def test_new_stream_is_pending_until_it_acks_its_snapshot():
    cache, statuses, tracker = setup()
    status = statuses["n"] = ProxyStatus("n")
    tracker.on_progress("n", status)
    assert tracker.pending() == {"n"}  # no snapshot yet
    cache.set_snapshot("n", {ROUTE: {"r": route("r", "a")}})
    tracker.track(["n"])
    assert tracker.pending() == {"n"}
    ack_all(status, cache)
    tracker.on_progress("n", status)
    assert tracker.pending() == set() and "n" in tracker.converged_at
    assert tracker.wait(0)


def test_new_snapshot_makes_it_pending_again_and_a_nack_keeps_it_so():
    cache, statuses, tracker = setup()
    status = statuses["n"] = ProxyStatus("n")
    tracker.on_progress("n", status)
    cache.set_snapshot("n", {ROUTE: {"r": route("r", "a")}})
    ack_all(status, cache)
    tracker.track(["n"])  # the ACK came in before track(): seen at once
    assert tracker.pending() == set()
    old = dict(status.acked)
    cache.set_snapshot("n", {ROUTE: {"r": route("r", "b")}, LISTENER: {}})
    tracker.track(["n"])
    tracker.on_progress("n", status)  # still the old versions ACKed (a NACK, say)
    assert tracker.pending() == {"n"} and status.acked == old
    assert not tracker.wait(0.01)


def test_disconnect_and_replaced_streams():
    _cache, statuses, tracker = setup()
    old = ProxyStatus("n")
    tracker.on_progress("n", old)
    new = statuses["n"] = ProxyStatus("n")
    tracker.on_progress("n", new)  # the node reconnected: the new stream counts
    old.connected = False
    tracker.on_progress("n", old)  # the old stream ending does not clear the new one
    assert tracker.pending() == {"n"}
    new.connected = False
    tracker.on_progress("n", new)
    assert tracker.pending() == set()
