"""Label and field selectors: `osm` and the controller find meshed namespaces, controller
pods and proxies by label (``osm_mesh/kube/meshes.py``, ``namespaces.py``, ``metrics.py``)."""

from __future__ import annotations

import pytest

from tests.kube.parity.compare import assert_same
from tests.kube.parity.conftest import Pair, status_of

OBJECTS = {
    "a": {"parity": "1", "app": "x", "tier": "1"},
    "b": {"parity": "1", "app": "y"},
    "c": {"parity": "1", "app": "x", "tier": "10", "openservicemesh.io/monitored-by": "osm"},
    "d": {"parity": "1", "tier": "web"},
}

SELECTORS = [
    "app=x",
    "app==x",
    "app!=x",
    "app in (x,y)",
    "app notin (x)",
    "tier",
    "!tier",
    "tier>1",
    "tier<5",
    "app=x,tier",
    "openservicemesh.io/monitored-by",
    "openservicemesh.io/monitored-by=osm",
    "app in (x, y),!tier",
]


def _seed(pair: Pair) -> str:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    for side in pair.sides():
        for name, labels in OBJECTS.items():
            assert side.post(path, {"metadata": {"name": name, "labels": labels}}).code == 201
    return path


def test_label_selectors_select_the_same(pair: Pair) -> None:
    path = _seed(pair)
    for selector in SELECTORS:
        query = {"labelSelector": f"parity=1,{selector}"}
        emu, real = pair.each(lambda s, q=query: s.get(path, query=q))
        names = [[i["metadata"]["name"] for i in r.body["items"]] for r in (emu, real)]
        assert names[0] == names[1], f"{selector}: emulator {names[0]} != real {names[1]}"


@pytest.mark.parametrize("selector", ["app in (x", "app=x,=y", "Bad Key=1"])
def test_malformed_label_selector_is_400(pair: Pair, selector: str) -> None:
    """The wording differs (apimachinery's lexer is not modelled); code and reason match."""
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    emu, real = pair.each(lambda s: s.get(path, query={"labelSelector": selector}))
    assert (emu.code, emu.reason) == (real.code, real.reason) == (400, "BadRequest")


@pytest.mark.parametrize(
    ("plural", "selector"),
    [
        ("configmaps", "spec.foo=1"),
        ("pods", "spec.foo=1"),
        ("secrets", "status.phase=Running"),
        ("configmaps", "metadata.name=a"),
        ("pods", "status.phase=Running"),
        ("secrets", "type=Opaque"),
    ],
)
def test_field_selectors(pair: Pair, plural: str, selector: str) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/{plural}"
    emu, real = pair.each(lambda s: s.get(path, query={"fieldSelector": selector}))
    if real.code == 200:
        assert emu.code == 200, emu.body
        assert [i["metadata"]["name"] for i in emu.body["items"]] == [
            i["metadata"]["name"] for i in real.body["items"]
        ]
    else:
        assert_same(status_of(emu), status_of(real), selector)


def test_unparsable_resource_version_on_list_is_400(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    emu, real = pair.each(lambda s: s.get(path, query={"resourceVersion": "abc"}))
    assert real.code == 400
    assert_same(status_of(emu), status_of(real))
