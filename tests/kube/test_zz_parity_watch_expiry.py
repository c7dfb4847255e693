"""Parity of the 410 the informer relists on (``_Gone`` in osm_mesh/catalog/kube_watch.py),
run last in tests/kube: a real API server answers a watch from a resourceVersion older than
its history with an ERROR event (410 Expired) inside a 200 stream only once its own
compactor has run (every 5 minutes from its start; compacting etcd behind its back is not
enough: a young server still serves resourceVersion 1, found by tests/kube/parity). The
emulator answers the same for a version from before it started."""

from __future__ import annotations

import pytest

from tests.kube.parity.compare import assert_same
from tests.kube.parity.conftest import Pair, pair, real_side_session  # noqa: F401  (fixtures)


@pytest.mark.timeout(600)  # a cluster started moments ago compacts only after 5 minutes
def test_too_old_resource_version_is_410_inside_the_stream(pair: Pair) -> None:  # noqa: F811
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    for side in pair.sides():
        assert side.post(path, {"metadata": {"name": "a"}}).code == 201
    answers: dict[str, tuple] = {}

    def expired(side) -> bool:
        answers[side.name] = side.watch(path, {"resourceVersion": "1"}, until=lambda e: True)
        code, events = answers[side.name]
        return code == 200 and [e["type"] for e in events] == ["ERROR"]

    assert expired(pair.emu), answers["emulator"]
    # Up to one compaction period (plus margin) for a server started moments ago.
    assert pair.real.wait(lambda: expired(pair.real), timeout=420, step=10), answers["real"]
    emu, real = answers["emulator"][1][0], answers["real"][1][0]
    shape = [{k: v for k, v in e["object"].items() if k != "message"} for e in (emu, real)]
    assert_same(shape[0], shape[1])
    assert shape[1]["code"] == 410 and shape[1]["reason"] == "Expired"
    for event in (emu, real):
        assert event["object"]["message"].startswith("too old resource version: 1 (")
