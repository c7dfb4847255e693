"""The patches our code sends, applied by both servers: the results must be the same.

`osm namespace add/remove/ignore` and `osm metrics` (strategic merge of namespace and pod
metadata, ``null`` removes), `--restart` (strategic merge of a workload's pod template, as
`kubectl rollout restart`), the controller's bootstrap Secrets (merge patch of
ownerReferences and data). The bodies come from the product's own functions.
"""

from __future__ import annotations

import datetime as dt

from osm_mesh.controller.bootstrap_secrets import owner_patch
from osm_mesh.kube.rollout import STRATEGIC_MERGE, restart_patch
from tests.kube.parity.compare import assert_same, normalise
from tests.kube.parity.conftest import Pair

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _metadata(obj: dict) -> dict:
    meta = obj["metadata"]
    return {k: meta.get(k) for k in ("labels", "annotations", "ownerReferences", "finalizers")}


def test_namespace_metadata_patches(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}"
    steps = [
        {"metadata": {"labels": {"openservicemesh.io/monitored-by": "osm"}}},
        {"metadata": {"annotations": {"openservicemesh.io/sidecar-injection": "enabled"}}},
        {"metadata": {"annotations": {"openservicemesh.io/metrics": "enabled"}}},
        {"metadata": {"labels": {"openservicemesh.io/monitored-by": None}}},
        {"metadata": {"annotations": {"openservicemesh.io/sidecar-injection": None}}},
        {"metadata": {"labels": {"openservicemesh.io/ignore": "true"}}},
    ]

    def send(side):
        seen = []
        for body in steps:
            reply = side.patch(path, body, STRATEGIC_MERGE)
            assert reply.code == 200, reply.body
            seen.append(_metadata(reply.body))
        return seen

    emu, real = pair.each(send)
    assert_same(emu, real, "namespace metadata after each patch")


def test_pod_annotation_patch_with_null_removal(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/pods"
    pod = {
        "metadata": {"name": "p", "labels": {"app": "p"}, "annotations": {"keep": "1"}},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/app:1"}]},
    }
    scrape = {"prometheus.io/scrape": "true", "prometheus.io/port": "15010"}

    def send(side):
        assert side.post(path, pod).code == 201
        on = side.patch(f"{path}/p", {"metadata": {"annotations": scrape}}, STRATEGIC_MERGE)
        off_body = {"metadata": {"annotations": {k: None for k in scrape}}}
        off = side.patch(f"{path}/p", off_body, STRATEGIC_MERGE)
        return [_metadata(on.body), _metadata(off.body)]

    emu, real = pair.each(send)
    assert_same(emu, real)


def test_rollout_restart_patch(pair: Pair) -> None:
    path = f"/apis/apps/v1/namespaces/{pair.namespace}/deployments"
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"a": "1"}},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/web:1"}]},
            },
        },
    }
    patch = restart_patch(dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC))

    def send(side):
        made = side.post(path, deployment)
        assert made.code == 201, made.body
        once = side.patch(f"{path}/web", patch, STRATEGIC_MERGE).body
        twice = side.patch(f"{path}/web", patch, STRATEGIC_MERGE).body
        # (resourceVersions are not compared: kube-controller-manager writes the status.)
        return [
            (o["metadata"].get("generation"), o["spec"]["template"]["metadata"])
            for o in (made.body, once, twice)
        ]

    emu, real = pair.each(send)
    assert [g for g, _ in real] == [1, 2, 2]  # the same patch again changes no spec
    assert_same(emu, real)


def test_bootstrap_secret_owner_and_data_patches(pair: Pair) -> None:
    """The owner patch and a data patch, with the owning Pod present."""
    secrets = f"/api/v1/namespaces/{pair.namespace}/secrets"
    pods = f"/api/v1/namespaces/{pair.namespace}/pods"
    pod = {
        "metadata": {"name": "pod-1"},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/app:1"}]},
    }

    def send(side):
        owner = side.post(pods, pod)
        assert owner.code == 201
        made = side.post(secrets, {"metadata": {"name": "boot"}, "data": {"a": "YQ=="}})
        assert made.code == 201
        owned = side.patch(f"{secrets}/boot", owner_patch(owner.body), MERGE).body
        data = side.patch(f"{secrets}/boot", {"data": {"b": "Yg=="}}, MERGE).body
        return [normalise(o, drop=("metadata.managedFields",)) for o in (owned, data)]

    emu, real = pair.each(send)
    assert_same(emu, real)


def test_secret_of_a_pod_that_is_gone_is_collected(pair: Pair) -> None:
    """The garbage collector deletes a dependent whose owner does not exist (by uid): a
    bootstrap Secret pointed at a vanished Pod does not survive on a real cluster."""
    path = f"/api/v1/namespaces/{pair.namespace}/secrets"
    absent = {"metadata": {"name": "pod-gone", "uid": "0b7d3c1e-9a43-4f57-bf5c-9d7c2f1b5e11"}}

    def send(side):
        assert side.post(path, {"metadata": {"name": "orphan"}, "data": {"a": "YQ=="}}).code == 201
        patched = side.patch(f"{path}/orphan", owner_patch(absent), MERGE)
        assert patched.code == 200  # the write itself succeeds; the collector comes after
        return side.gone(f"{path}/orphan", timeout=60)

    emu, real = pair.each(send)
    assert real is True
    assert emu is True


def test_json_patch_ops(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps"
    ops = [
        {"op": "add", "path": "/metadata/labels", "value": {"a": "1"}},
        {"op": "add", "path": "/data/new", "value": "x"},
        {"op": "replace", "path": "/data/old", "value": "y"},
        {"op": "copy", "from": "/data/new", "path": "/data/copied"},
        {"op": "move", "from": "/data/copied", "path": "/data/moved"},
        {"op": "remove", "path": "/data/gone"},
        {"op": "test", "path": "/data/new", "value": "x"},
    ]

    def send(side):
        body = {"metadata": {"name": "jp"}, "data": {"old": "o", "gone": "g"}}
        assert side.post(path, body).code == 201
        reply = side.patch(f"{path}/jp", ops, JSON_PATCH)
        assert reply.code == 200, reply.body
        return normalise(reply.body, drop=("metadata.managedFields",))

    emu, real = pair.each(send)
    assert_same(emu, real)
