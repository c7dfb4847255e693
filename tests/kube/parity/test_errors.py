"""Error answers: the HTTP code and the Status (reason, message, details) our code reads.

``osm_mesh/kube/errors.py`` turns 404/409/403/400/422 into one-line CLI errors, and the
controller and CLI branch on ``exc.status``; so the emulator must answer every one of these
requests exactly as kube-apiserver 1.37 does.
"""

from __future__ import annotations

import json

import pytest

from tests.kube.parity.compare import assert_same, normalise
from tests.kube.parity.conftest import Pair, status_of

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def assert_same_status(pair: Pair, send) -> tuple:
    emu, real = pair.each(send)
    assert_same(status_of(emu), status_of(real))
    return emu, real


def test_get_missing_object(pair: Pair) -> None:
    _, real = assert_same_status(
        pair, lambda s: s.get(f"/api/v1/namespaces/{pair.namespace}/configmaps/nope")
    )
    assert real.code == 404 and real.reason == "NotFound"


def test_get_in_missing_namespace_is_the_object_not_found(pair: Pair) -> None:
    _, real = assert_same_status(pair, lambda s: s.get("/api/v1/namespaces/no-such-ns/pods/p"))
    assert real.code == 404


def test_create_in_missing_namespace_names_the_namespace(pair: Pair) -> None:
    _, real = assert_same_status(
        pair, lambda s: s.post("/api/v1/namespaces/no-such-ns/configmaps", configmap("c"))
    )
    assert real.code == 404 and '"no-such-ns"' in real.message


def test_create_twice_is_already_exists(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    for side in pair.sides():
        assert side.post(path, configmap("twice")).code == 201
    _, real = assert_same_status(pair, lambda s: s.post(path, configmap("twice")))
    assert real.code == 409 and real.reason == "AlreadyExists"


def test_stale_resource_version_is_conflict(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"

    def stale_update(side):
        made = side.post(path, configmap("stale", a="1")).body
        newer = dict(made, data={"a": "2"})
        assert side.put(f"{path}/stale", newer).code == 200
        return side.put(f"{path}/stale", dict(made, data={"a": "3"}))

    _, real = assert_same_status(pair, stale_update)
    assert real.code == 409 and real.reason == "Conflict"


@pytest.mark.parametrize(
    ("name", "plural", "kind"),
    [
        ("Bad_Name", "configmaps", "ConfigMap"),
        ("a.b", "services", "Service"),  # a DNS label, not a subdomain
        ("", "configmaps", "ConfigMap"),
    ],
)
def test_invalid_name_is_422(pair: Pair, name: str, plural: str, kind: str) -> None:
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if kind == "Service":
        body["spec"] = {"ports": [{"port": 80}]}
    _, real = assert_same_status(
        pair, lambda s: s.post(f"/api/v1/namespaces/{pair.namespace}/{plural}", body)
    )
    assert real.code == 422 and real.reason == "Invalid"


def test_unknown_resource_is_404_without_details(pair: Pair) -> None:
    _, real = assert_same_status(
        pair, lambda s: s.get(f"/apis/example.invalid/v1/namespaces/{pair.namespace}/things")
    )
    assert real.code == 404


def test_delete_missing_is_404(pair: Pair) -> None:
    _, real = assert_same_status(
        pair, lambda s: s.delete(f"/api/v1/namespaces/{pair.namespace}/secrets/nope")
    )
    assert real.code == 404


def test_replace_missing_is_404(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps/absent"
    _, real = assert_same_status(pair, lambda s: s.put(path, configmap("absent")))
    assert real.code == 404


def test_patch_missing_is_404(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps/absent"
    _, real = assert_same_status(pair, lambda s: s.patch(path, {"data": {"a": "b"}}, MERGE_PATCH))
    assert real.code == 404


def test_name_in_body_differs_from_url_is_400(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"

    def send(side):
        assert side.post(path, configmap("one")).code == 201
        return side.put(f"{path}/one", configmap("two"))

    _, real = assert_same_status(pair, send)
    assert real.code == 400


def test_malformed_json_is_400(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    emu, real = pair.each(lambda s: s.request("POST", path, raw=b"{not json"))
    assert (emu.code, emu.reason) == (real.code, real.reason) == (400, "BadRequest")


def test_json_patch_test_failure(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    ops = [{"op": "test", "path": "/data/a", "value": "other"}, {"op": "remove", "path": "/data"}]

    def send(side):
        assert side.post(path, configmap("jp", a="1")).code == 201
        return side.patch(f"{path}/jp", ops, JSON_PATCH)

    emu, real = pair.each(send)
    assert (emu.code, emu.reason) == (real.code, real.reason)
    assert real.code == 422


def test_json_patch_remove_missing_path(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"

    def send(side):
        assert side.post(path, configmap("jpr", a="1")).code == 201
        return side.patch(f"{path}/jpr", [{"op": "remove", "path": "/data/zz"}], JSON_PATCH)

    emu, real = pair.each(send)
    assert (emu.code, emu.reason) == (real.code, real.reason)
    assert real.code == 422


def test_strategic_merge_on_custom_resource_is_415(crd_pair: Pair) -> None:
    pair = crd_pair
    path = f"/apis/split.smi-spec.io/v1alpha2/namespaces/{pair.namespace}/trafficsplits"
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "s"},
        "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": 100}]},
    }

    def send(side):
        made = side.post(path, split)
        assert made.code == 201, made.body
        return side.patch(f"{path}/s", {"metadata": {"labels": {"a": "b"}}}, STRATEGIC)

    emu, real = pair.each(send)
    assert (emu.code, emu.reason) == (real.code, real.reason) == (415, "UnsupportedMediaType")
    assert emu.message == real.message


def test_delete_answers_success_or_the_object(pair: Pair) -> None:
    """A ConfigMap is gone at once: a Success Status with its uid; our uninstall reads the
    code only, but the body must stay decodable the same way."""
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"

    def send(side):
        assert side.post(path, configmap("gone")).code == 201
        return side.delete(f"{path}/gone")

    emu, real = pair.each(send)
    assert emu.code == real.code == 200
    assert_same(normalise(emu.body), normalise(real.body), "the DELETE answer")


def test_unsupported_patch_type_is_415(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"

    def send(side):
        assert side.post(path, configmap("ct")).code == 201
        return side.patch(f"{path}/ct", json.dumps({"data": {}}), "text/plain")

    emu, real = pair.each(send)
    assert (emu.code, emu.reason) == (real.code, real.reason)
    assert real.code == 415
