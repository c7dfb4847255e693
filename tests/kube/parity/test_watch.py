"""Watch semantics the controller's informer (``osm_mesh/catalog/kube_watch.py``) and helm's
``--wait`` (client-go WatchList) depend on: initial events and their bookmark, 410 Gone inside
a 200 stream for a resourceVersion the server no longer has, and what a bad request gets."""

from __future__ import annotations

from tests.kube.parity.compare import assert_same
from tests.kube.parity.conftest import Pair


def _seed(pair: Pair) -> str:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    for side in pair.sides():
        for name in ("a", "b"):
            made = side.post(path, {"metadata": {"name": name, "labels": {"parity": "1"}}})
            assert made.code == 201
    return path


def _summary(events: list[dict]) -> list[tuple]:
    out = []
    for event in events:
        meta = event["object"].get("metadata") or {}
        annotations = meta.get("annotations") or {}
        out.append(
            (
                event["type"],
                meta.get("name"),
                annotations.get("k8s.io/initial-events-end"),
                bool(meta.get("resourceVersion")),
            )
        )
    return out


def _watch(pair: Pair, path: str, query: dict, until) -> tuple:
    return pair.each(lambda s: s.watch(path, query, until=until, limit=5))


def test_initial_events_end_with_a_bookmark_when_asked(pair: Pair) -> None:
    path = _seed(pair)
    query = {
        "labelSelector": "parity=1",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    (ecode, emu), (rcode, real) = _watch(
        pair, path, query, lambda ev: any(e["type"] == "BOOKMARK" for e in ev)
    )
    assert ecode == rcode == 200
    assert _summary(real) == [
        ("ADDED", "a", None, True),
        ("ADDED", "b", None, True),
        ("BOOKMARK", None, "true", True),
    ]
    assert _summary(emu) == _summary(real)


def test_no_bookmark_unless_allowed(pair: Pair) -> None:
    path = _seed(pair)
    query = {
        "labelSelector": "parity=1",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "timeoutSeconds": "2",
    }
    (_, emu), (_, real) = pair.each(lambda s: s.watch(path, query, until=lambda ev: False, limit=3))
    assert [e["type"] for e in real] == ["ADDED", "ADDED"]
    assert _summary(emu) == _summary(real)


def test_initial_events_need_resource_version_match(pair: Pair) -> None:
    path = _seed(pair)
    (ecode, emu), (rcode, real) = _watch(pair, path, {"sendInitialEvents": "true"}, lambda ev: True)
    assert rcode == 422
    assert ecode == rcode
    assert_same(emu[0], real[0])


def test_unparsable_resource_version_on_watch(pair: Pair) -> None:
    path = _seed(pair)
    (ecode, emu), (rcode, real) = _watch(pair, path, {"resourceVersion": "abc"}, lambda ev: True)
    assert ecode == rcode == 500
    assert_same(emu[0], real[0])


def test_resumed_watch_sees_modify_and_delete(pair: Pair) -> None:
    path = _seed(pair)

    def send(side):
        rv = side.get(path, query={"labelSelector": "parity=1"}).body["metadata"]["resourceVersion"]
        assert (
            side.patch(f"{path}/a", {"data": {"k": "v"}}, "application/merge-patch+json").code
            == 200
        )
        assert side.delete(f"{path}/b").code == 200
        code, events = side.watch(
            path,
            {"resourceVersion": rv, "labelSelector": "parity=1"},
            until=lambda ev: len(ev) >= 2,
            limit=5,
        )
        return code, _summary(events)

    emu, real = pair.each(send)
    assert real == (200, [("MODIFIED", "a", None, True), ("DELETED", "b", None, True)])
    assert emu == real
