"""CRUD, selectors, Status errors and recording, through the real kubernetes client."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from tests.emulator_tests.manifests import deployment


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_initial_namespaces_and_list_metadata(kube):
    namespaces = kube.core.list_namespace()
    names = [ns.metadata.name for ns in namespaces.items]
    assert {"default", "kube-system"} <= set(names)
    assert namespaces.metadata.resource_version
    default = kube.core.read_namespace("default")
    assert default.status.phase == "Active"
    assert default.metadata.uid and default.metadata.creation_timestamp


def test_create_get_replace_delete_configmap(kube, kube_emulator):
    created = kube.core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"k": "v"}}
    )
    assert created.metadata.resource_version and created.metadata.uid
    assert created.metadata.namespace == "default"
    got = kube.core.read_namespaced_config_map("cfg", "default")
    assert got.data == {"k": "v"}

    body = got.to_dict()
    body["data"] = {"k": "w"}
    replaced = kube.core.replace_namespaced_config_map("cfg", "default", body)
    assert replaced.data == {"k": "w"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert replaced.metadata.uid == created.metadata.uid

    kube.core.delete_namespaced_config_map("cfg", "default")
    assert kube_emulator.get("v1", "ConfigMap", "cfg", "default") is None
    with pytest.raises(ApiException) as err:
        kube.core.read_namespaced_config_map("cfg", "default")
    assert err.value.status == 404
    assert status_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "cfg" not found',
        "reason": "NotFound",
        "details": {"name": "cfg", "kind": "configmaps"},
        "code": 404,
    }


def test_already_exists_and_group_qualified_messages(kube, kube_emulator):
    kube.core.create_namespace({"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as err:
        kube.core.create_namespace({"metadata": {"name": "dup"}})
    assert err.value.status == 409
    assert status_of(err.value)["reason"] == "AlreadyExists"
    assert status_of(err.value)["message"] == 'namespaces "dup" already exists'
    with pytest.raises(ApiException) as err:
        kube.apps.read_namespaced_deployment("nope", "dup")
    assert status_of(err.value)["message"] == 'deployments.apps "nope" not found'
    assert status_of(err.value)["details"]["group"] == "apps"


def test_create_in_missing_namespace_is_404(kube):
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_service_account("ghost", {"metadata": {"name": "sa"}})
    assert err.value.status == 404
    assert status_of(err.value)["message"] == 'namespaces "ghost" not found'


@pytest.mark.parametrize("name", ["Bad_Name", "-lead", "trail-", "a" * 254])
def test_invalid_names_are_422(kube, name):
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_config_map("default", {"metadata": {"name": name}})
    assert err.value.status == 422
    body = status_of(err.value)
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(
        f'ConfigMap "{name}" is invalid: metadata.name: Invalid value'
    )
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_namespace_names_must_be_dns_labels(kube):
    with pytest.raises(ApiException) as err:
        kube.core.create_namespace({"metadata": {"name": "has.dot"}})
    assert err.value.status == 422
    # kube-apiserver's wording for a valid subdomain that is no label (tests/kube/parity)
    assert status_of(err.value)["message"].endswith('"has.dot": must not contain dots')
    with pytest.raises(ApiException) as err:
        kube.core.create_namespace({"metadata": {"name": "Has_Underscore"}})
    assert "RFC 1123 label" in status_of(err.value)["message"]


def test_generate_name(kube):
    made = kube.core.create_namespaced_secret(
        "default", {"metadata": {"generateName": "tok-"}, "stringData": {"a": "b"}}
    )
    assert made.metadata.name.startswith("tok-") and len(made.metadata.name) == 9
    assert made.data == {"a": "Yg=="}  # stringData is folded into base64 data
    assert made.type == "Opaque"


def test_stale_resource_version_conflicts(kube):
    first = kube.core.create_namespaced_config_map("default", {"metadata": {"name": "rv"}})
    body = first.to_dict()
    kube.core.replace_namespaced_config_map("rv", "default", dict(body, data={"x": "1"}))
    with pytest.raises(ApiException) as err:
        kube.core.replace_namespaced_config_map("rv", "default", dict(body, data={"x": "2"}))
    assert err.value.status == 409
    assert status_of(err.value)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(err.value)["message"]


def test_replace_of_missing_object_is_404(kube):
    with pytest.raises(ApiException) as err:
        kube.core.replace_namespaced_config_map("nope", "default", {"metadata": {"name": "nope"}})
    assert err.value.status == 404


def test_label_selectors(kube, kube_emulator):
    for name, labels in {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web", "tier": "back"},
        "c": {"app": "db"},
        "d": {},
    }.items():
        kube_emulator.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
        )

    def names(selector: str) -> list[str]:
        items = kube.core.list_namespaced_config_map("default", label_selector=selector).items
        return [cm.metadata.name for cm in items]

    assert names("app=web") == ["a", "b"]
    assert names("app==web,tier=back") == ["b"]
    # (kube-root-ca.crt, which kube-controller-manager puts in every namespace, has no app)
    assert names("app!=web") == ["c", "d", "kube-root-ca.crt"]
    assert names("tier in (front, back)") == ["a", "b"]
    assert names("app notin (web),app") == ["c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c", "d", "kube-root-ca.crt"]
    with pytest.raises(ApiException) as err:
        names("app in (web")
    assert err.value.status == 400


def test_field_selectors_and_all_namespaces(kube, kube_emulator):
    kube.core.create_namespace({"metadata": {"name": "other"}})
    for ns in ("default", "other"):
        kube_emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": ns},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            }
        )
    everywhere = kube.core.list_pod_for_all_namespaces()
    assert sorted(p.metadata.namespace for p in everywhere.items) == ["default", "other"]
    only_other = kube.core.list_pod_for_all_namespaces(field_selector="metadata.namespace=other")
    assert [p.metadata.namespace for p in only_other.items] == ["other"]
    running = kube.core.list_namespaced_pod("default", field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["p"]
    assert not kube.core.list_namespaced_pod(
        "default", field_selector="status.phase!=Running"
    ).items
    assert kube.core.list_namespaced_pod("default", field_selector="metadata.name=p").items


def test_seeded_pod_has_running_defaults(kube_emulator, kube):
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "seed", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
        }
    )
    pod = kube.core.read_namespaced_pod("seed", "default")
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip.startswith("10.")
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert pod.status.container_statuses[0].ready is True


def test_namespace_deletion_removes_contents(kube, kube_emulator):
    kube.core.create_namespace({"metadata": {"name": "doomed"}})
    kube.core.create_namespaced_config_map("doomed", {"metadata": {"name": "cfg"}})
    kube_emulator.create(
        {
            "apiVersion": "split.smi-spec.io/v1alpha2",
            "kind": "TrafficSplit",
            "metadata": {"name": "ts", "namespace": "doomed"},
            "spec": {"service": "s", "backends": []},
        }
    )
    kube_emulator.api.finalize_s = 2.0
    kube.core.delete_namespace("doomed")
    # As kube-apiserver: Terminating first, contents gone, new content refused, then removed.
    assert kube_emulator.get("v1", "Namespace", "doomed")["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as refused:
        kube.core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert refused.value.status == 403
    assert kube_emulator.wait_gone("v1", "Namespace", "doomed")
    assert kube_emulator.list("v1", "ConfigMap", "doomed") == []
    assert kube_emulator.list("split.smi-spec.io/v1alpha2", "TrafficSplit", "doomed") == []


def test_delete_collection_by_label(kube, kube_emulator):
    for name, tier in (("x", "a"), ("y", "a"), ("z", "b")):
        kube.core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    result = kube.core.delete_collection_namespaced_config_map("default", label_selector="tier=a")
    # As kube-apiserver: the list of what was deleted, not a Status.
    assert result.kind == "ConfigMapList"
    assert [c["metadata"]["name"] for c in kube_emulator.list("v1", "ConfigMap", "default")] == [
        "kube-root-ca.crt",  # every namespace has it, as on a real cluster
        "z",
    ]


def test_dry_run_does_not_persist(kube, kube_emulator):
    kube.core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    assert kube_emulator.get("v1", "ConfigMap", "dry", "default") is None


def test_rbac_admission_and_crd_kinds(kube, kube_emulator):
    kube.rbac.create_cluster_role({"metadata": {"name": "r"}, "rules": []})
    kube.rbac.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "rb"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "r",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
        },
    )
    kube.admission.create_mutating_webhook_configuration(
        {"metadata": {"name": "inj"}, "webhooks": []}
    )
    assert [
        w.metadata.name for w in kube.admission.list_mutating_webhook_configuration().items
    ] == ["inj"]
    assert kube.rbac.read_namespaced_role_binding("rb", "default").role_ref.name == "r"


def test_custom_resources_builtin_and_from_crd(kube, kube_emulator):
    custom = kube.custom
    for version in ("v1alpha1", "v1alpha4"):
        custom.create_namespaced_custom_object(
            "specs.smi-spec.io",
            version,
            "default",
            "httproutegroups",
            {
                "apiVersion": f"specs.smi-spec.io/{version}",
                "kind": "HTTPRouteGroup",
                "metadata": {"name": f"routes-{version}"},
                "spec": {"matches": []},
            },
        )
    listed = custom.list_namespaced_custom_object(
        "specs.smi-spec.io", "v1alpha4", "default", "httproutegroups"
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == [
        "routes-v1alpha1",
        "routes-v1alpha4",
    ]
    assert {i["apiVersion"] for i in listed["items"]} == {"specs.smi-spec.io/v1alpha4"}
    assert listed["metadata"]["resourceVersion"]

    # An unknown group exists only once its CRD does.
    with pytest.raises(ApiException) as err:
        custom.list_cluster_custom_object("example.com", "v1", "widgets")
    assert err.value.status == 404
    kube.apiextensions.create_custom_resource_definition(
        {
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object"}},
                    }
                ],
            },
        }
    )
    custom.create_cluster_custom_object(
        "example.com",
        "v1",
        "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    assert kube_emulator.get("example.com/v1", "Widget", "w")["metadata"]["uid"]
    crd = kube.apiextensions.read_custom_resource_definition("widgets.example.com")
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    kube.apiextensions.delete_custom_resource_definition("widgets.example.com")
    # Terminating first (its objects go, then the CRD), as on a real cluster.
    assert kube_emulator.wait_gone(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"
    )
    with pytest.raises(ApiException):
        custom.list_cluster_custom_object("example.com", "v1", "widgets")


def test_meshconfig_is_known_without_crd(kube_emulator, kube):
    kube_emulator.create(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "default"},
            "spec": {"sidecar": {"logLevel": "error"}},
        }
    )
    got = kube.custom.get_namespaced_custom_object(
        "config.openservicemesh.io", "v1alpha1", "default", "meshconfigs", "osm-mesh-config"
    )
    assert got["spec"]["sidecar"]["logLevel"] == "error"
    assert got["apiVersion"] == "config.openservicemesh.io/v1alpha1"


def test_requests_are_recorded(kube, kube_emulator):
    kube.core.list_namespaced_pod("default")
    assert kube_emulator.writes() == []
    kube.core.create_namespaced_config_map("default", {"metadata": {"name": "rec"}})
    [write] = kube_emulator.writes()
    assert (write.method, write.path) == ("POST", "/api/v1/namespaces/default/configmaps")
    assert write.body["metadata"]["name"] == "rec"
    reads = [r for r in kube_emulator.requests if r.method == "GET"]
    assert reads[0].path == "/api/v1/namespaces/default/pods"


def test_forbid_answers_like_rbac(kube, kube_emulator):
    kube_emulator.forbid("list", "pods", namespace="locked")
    kube_emulator.forbid("get", "namespaces")
    kube.core.list_namespaced_pod("default")  # other namespaces are unaffected
    with pytest.raises(ApiException) as err:
        kube.core.list_namespaced_pod("locked")
    assert err.value.status == 403
    body = status_of(err.value)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'pods is forbidden: User "emulator" cannot list resource "pods" in API group "" '
        'in the namespace "locked"'
    )
    with pytest.raises(ApiException) as err:
        kube.core.read_namespace("default")
    assert status_of(err.value)["message"] == (
        'namespaces "default" is forbidden: User "emulator" cannot get resource "namespaces" '
        'in API group "" in the namespace "default"'  # sic, as kube-apiserver says it
    )


def test_forbidden_translates_to_permission_denied(kube, kube_emulator):
    from osm_mesh.errors import PermissionDenied
    from osm_mesh.kube.errors import translate

    kube_emulator.forbid("create", "deployments")
    with pytest.raises(ApiException) as err:
        kube.apps.create_namespaced_deployment("default", deployment("d"))
    mesh_error = translate(err.value)
    assert isinstance(mesh_error, PermissionDenied)
    assert 'cannot create resource "deployments" in API group "apps"' in str(mesh_error)


def test_emulator_bugs_answer_500_and_are_kept(kube, kube_emulator):
    def broken(rt, event, old, new):
        raise RuntimeError("simulated emulator bug")

    kube_emulator.api.listeners.append(broken)
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_config_map("default", {"metadata": {"name": "boom"}})
    assert err.value.status == 500
    assert status_of(err.value)["reason"] == "InternalError"
    assert "simulated emulator bug" in kube_emulator.errors[0]
    kube_emulator.errors.clear()  # expected here; the autouse check wants none left
