"""The three patch flavours, by value and through the real client."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from tests.emulator.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.emulator_tests.manifests import deployment

POD_SPEC = {
    "containers": [
        {
            "name": "app",
            "image": "app:1",
            "ports": [{"containerPort": 80, "name": "http"}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "sidecar", "image": "envoy:1"},
    ],
    "volumes": [{"name": "v", "emptyDir": {}}],
}


def test_merge_patch_rfc7386():
    target = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}
    assert merge_patch(target, {"b": {"c": None, "e": 4}, "l": [3], "a": None}) == {
        "b": {"d": 3, "e": 4},
        "l": [3],
    }
    assert target["b"] == {"c": 2, "d": 3}  # input untouched


def test_strategic_merge_by_keys():
    patched = strategic_merge_patch(
        POD_SPEC,
        {
            "containers": [
                {
                    "name": "app",
                    "image": "app:2",
                    "ports": [{"containerPort": 9091, "name": "metrics"}],
                    "env": [{"name": "B", "value": "3"}],
                },
                {"name": "sidecar", "$patch": "delete"},
                {"name": "init", "image": "init:1"},
            ],
            "volumes": [{"name": "w", "configMap": {"name": "cm"}}],
        },
    )
    app, init = patched["containers"]
    assert (app["name"], app["image"], init["name"]) == ("app", "app:2", "init")
    assert [p["containerPort"] for p in app["ports"]] == [80, 9091]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert [v["name"] for v in patched["volumes"]] == ["v", "w"]


def test_strategic_merge_null_deletes_and_directives():
    target = {"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]}, "spec": {"k": 1}}
    patched = strategic_merge_patch(
        target,
        {
            "metadata": {"labels": {"a": None}, "finalizers": ["y"]},
            "spec": {"$patch": "replace", "j": 2},
            "$setElementOrder/containers": [{"name": "a"}],
        },
    )
    assert patched == {
        "metadata": {"labels": {"b": "2"}, "finalizers": ["x", "y"]},
        "spec": {"j": 2},
    }


def test_json_patch_ops():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    out = json_patch(
        doc,
        [
            {"op": "test", "path": "/c", "value": "x"},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e~1f"},
            {"op": "remove", "path": "/a/b/1"},
        ],
    )
    assert out == {"a": {"b": [0, 2, 3]}, "c": "y", "e/f": "y"}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/c", "value": "nope"}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/missing"}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])


def test_strategic_patch_through_client(kube, kube_emulator):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=1))
    kube.apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "metadata": {"labels": {"app": None, "team": "mesh"}},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}},
        },
    )
    [write] = [w for w in kube_emulator.writes() if w.method == "PATCH"]
    assert write.content_type == "application/strategic-merge-patch+json"
    got = kube.apps.read_namespaced_deployment("web", "default")
    assert got.metadata.labels == {"team": "mesh"}
    [container] = got.spec.template.spec.containers
    assert container.image == "nginx:2"
    assert container.ports[0].container_port == 8080  # merged, not replaced
    assert got.metadata.generation == 2


def test_json_patch_through_client_including_failed_test(kube):
    kube.core.create_namespaced_config_map(
        "default", {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    kube.core.patch_namespaced_config_map(
        "c", "default", [{"op": "add", "path": "/data/b", "value": "2"}]
    )
    assert kube.core.read_namespaced_config_map("c", "default").data == {"a": "1", "b": "2"}
    with pytest.raises(ApiException) as err:
        kube.core.patch_namespaced_config_map(
            "c", "default", [{"op": "test", "path": "/data/a", "value": "9"}]
        )
    assert err.value.status == 422
    assert json.loads(err.value.body)["kind"] == "Status"
    assert kube.core.read_namespaced_config_map("c", "default").data == {"a": "1", "b": "2"}


def test_custom_objects_use_merge_patch_and_refuse_strategic(kube, kube_emulator):
    kube_emulator.create(
        {
            "apiVersion": "split.smi-spec.io/v1alpha2",
            "kind": "TrafficSplit",
            "metadata": {"name": "ts", "namespace": "default"},
            "spec": {"service": "svc", "backends": [{"service": "v1", "weight": 100}]},
        }
    )
    kube.custom.patch_namespaced_custom_object(
        "split.smi-spec.io",
        "v1alpha2",
        "default",
        "trafficsplits",
        "ts",
        {"spec": {"backends": [{"service": "v2", "weight": 100}]}},
    )
    got = kube_emulator.get("split.smi-spec.io/v1alpha2", "TrafficSplit", "ts", "default")
    assert got["spec"] == {"service": "svc", "backends": [{"service": "v2", "weight": 100}]}
    with pytest.raises(ApiException) as err:
        kube.custom.patch_namespaced_custom_object(
            "split.smi-spec.io",
            "v1alpha2",
            "default",
            "trafficsplits",
            "ts",
            {"spec": {}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert err.value.status == 415


def test_patch_of_missing_object_is_404(kube):
    with pytest.raises(ApiException) as err:
        kube.core.patch_namespaced_config_map("nope", "default", {"data": {"a": "b"}})
    assert err.value.status == 404


def test_status_is_only_written_through_status_subresource(kube):
    kube.apps.create_namespaced_deployment("default", deployment("st", replicas=1))
    kube.apps.patch_namespaced_deployment("st", "default", {"status": {"replicas": 7}})
    assert kube.apps.read_namespaced_deployment("st", "default").status.replicas == 1
    kube.apps.patch_namespaced_deployment_status("st", "default", {"status": {"replicas": 7}})
    assert kube.apps.read_namespaced_deployment("st", "default").status.replicas == 7


def test_server_side_apply_removes_only_fields_the_manager_dropped():
    from tests.emulator.patch import leaf_paths, server_side_apply

    first = {"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}
    owned = leaf_paths(first)
    # Another writer adds a label; the manager's next apply drops label b and key y.
    current = {
        "metadata": {"name": "c", "labels": {"a": "1", "b": "2", "other": "kept"}},
        "data": {"x": "1", "y": "2"},
    }
    second = {"metadata": {"labels": {"a": "1"}}, "data": {"x": "9"}}
    result, now_owned = server_side_apply(current, second, owned)
    assert result == {
        "metadata": {"name": "c", "labels": {"a": "1", "other": "kept"}},
        "data": {"x": "9"},
    }
    assert now_owned == {("metadata", "labels", "a"), ("data", "x")}


def test_apply_through_http(kube, kube_emulator):
    def apply(body: dict) -> None:
        kube.core.patch_namespaced_config_map(
            "applied", "default", body, field_manager="helm",
            _content_type="application/apply-patch+yaml",
        )  # fmt: skip

    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}}
    apply({**base, "data": {"a": "1", "b": "2"}})  # creates
    kube.core.patch_namespaced_config_map(
        "applied", "default", {"metadata": {"labels": {"x": "y"}}}
    )
    apply({**base, "data": {"a": "1"}})
    got = kube_emulator.get("v1", "ConfigMap", "applied", "default")
    assert got["data"] == {"a": "1"}
    assert got["metadata"]["labels"] == {"x": "y"}
