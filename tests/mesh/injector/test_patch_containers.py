"""The containers the injector adds, field by field, and the small rules around them (found
unchecked by mutation testing): every field here is part of what the pod runs with."""

from __future__ import annotations

import pytest

from osm_mesh.injector.patch import (
    decide,
    envoy_container,
    init_container,
    is_injected,
    pod_label,
    service_account_of,
)
from tests.mesh.injector.test_patch import SETTINGS, namespace, pod


def field_env(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def test_the_envoy_container_runs_unprivileged_with_the_pods_facts():
    c = envoy_container(pod(), "bookstore", SETTINGS)
    assert c["command"] == ["envoy"] and c["imagePullPolicy"] == "IfNotPresent"
    assert c["ports"] == [
        {"name": "proxy-admin", "containerPort": 15000, "protocol": "TCP"},
        {"name": "proxy-outbound", "containerPort": 15001, "protocol": "TCP"},
        {"name": "proxy-inbound", "containerPort": 15003, "protocol": "TCP"},
        {"name": "proxy-metrics", "containerPort": 15010, "protocol": "TCP"},
    ]
    assert c["env"] == [
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("POD_IP", "status.podIP"),
        field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
    ]
    assert c["securityContext"] == {
        "runAsUser": SETTINGS.proxy_uid,
        "runAsGroup": SETTINGS.proxy_uid,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_the_init_container_is_root_with_network_admin_only():
    c = init_container(pod(), SETTINGS)
    assert c["command"] == ["/bin/sh", "-c"] and c["imagePullPolicy"] == "IfNotPresent"
    assert c["securityContext"] == {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "allowPrivilegeEscalation": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
    }


def test_is_injected_by_label_or_by_an_envoy_container():
    assert not is_injected(pod())
    assert is_injected(pod(labels={"osm-proxy-uuid": "u"}))
    with_envoy = pod()
    with_envoy["spec"]["containers"].append({"name": "envoy"})
    assert is_injected(with_envoy)
    assert not is_injected({"spec": {"containers": [None, {"name": "app"}]}})
    assert not is_injected({"metadata": {"labels": None}})


@pytest.mark.parametrize(
    "meta, label",
    [({"name": "a", "generateName": "b-"}, "a"), ({"generateName": "b-"}, "b-"), ({}, "<unnamed>")],
)
def test_pod_label(meta, label):
    assert pod_label({"metadata": meta}) == label
    assert pod_label({"metadata": "not a map"}) == "<unnamed>"


@pytest.mark.parametrize(
    "spec, account",
    [
        ({"serviceAccountName": "a", "serviceAccount": "b"}, "a"),
        ({"serviceAccount": "b"}, "b"),  # the deprecated spelling still names it
        ({}, "default"),
    ],
)
def test_service_account_of(spec, account):
    assert service_account_of({"spec": spec}) == account


def test_decisions_say_why():
    enabled = namespace(annotations={"openservicemesh.io/sidecar-injection": "enabled"})
    assert (
        decide(pod(hostNetwork=True), enabled, SETTINGS).reason == "the pod uses the host network"
    )
    none = decide(pod(), namespace(), SETTINGS)
    assert (none.inject, none.reason) == (
        False,
        "injection is not enabled on the pod or its namespace",
    )
    assert (
        decide(pod(), enabled, SETTINGS).reason == "injection enabled by the namespace annotation"
    )
    off = decide(pod({"openservicemesh.io/sidecar-injection": "no"}), enabled, SETTINGS)
    assert (off.inject, off.reason) == (False, "injection disabled by the pod annotation")
    bad = decide(pod({"openservicemesh.io/sidecar-injection": "maybe"}), enabled, SETTINGS)
    assert bad.inject is False and bad.error == bad.reason == (
        "pod annotation openservicemesh.io/sidecar-injection='maybe' is not valid: "
        "use enabled or disabled"
    )
    bad_ns = namespace(annotations={"openservicemesh.io/sidecar-injection": "maybe"})
    assert decide(pod(), bad_ns, SETTINGS).error == (
        "namespace bookstore annotation openservicemesh.io/sidecar-injection='maybe' is not "
        "valid: use enabled or disabled"
    )


@pytest.mark.parametrize(
    "the_namespace, pod_namespace, cluster",
    [
        (namespace("shop"), "bookstore", "bookstore.shop"),  # the Namespace object's name wins
        ({}, "bookstore", "bookstore.bookstore"),  # no Namespace object: the pod's own
        ({"metadata": {}}, None, "bookstore.default"),  # neither: "default", as the API server
    ],
)
def test_the_sidecars_service_cluster_names_the_pods_namespace(
    the_namespace, pod_namespace, cluster
):
    from osm_mesh.injector.patch import injection_patch

    the_pod = pod()
    if pod_namespace is None:
        del the_pod["metadata"]["namespace"]
    ops = injection_patch(the_pod, the_namespace, SETTINGS, "uuid-1")
    [envoy] = [
        op["value"]
        for op in ops
        if isinstance(op.get("value"), dict) and op["value"].get("name") == "envoy"
    ]
    args = envoy["args"]
    assert args[args.index("--service-cluster") + 1] == cluster


def test_the_init_script_exempts_the_configured_proxy_uid_and_mesh_wide_exclusions():
    """The sidecar's own traffic is recognised by its uid: a mesh with another proxy uid
    must exempt that uid, or Envoy's upstream connections loop back into Envoy. And the
    MeshConfig's outbound port exclusions reach a pod that lists none of its own."""
    from dataclasses import replace

    from osm_mesh.injector.patch import init_container
    from osm_mesh.smi.model import MeshConfig

    script = init_container(pod(), replace(SETTINGS, proxy_uid=2102))["args"][0]
    assert "-A OSM_PROXY_OUTBOUND -m owner --uid-owner 2102 -j RETURN" in script
    assert "--uid-owner 1500" not in script
    settings = SETTINGS.with_mesh_config(MeshConfig(outbound_port_exclusion_list=(6379,)))
    script = init_container(pod(), settings)["args"][0]
    assert "-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports 6379 -j RETURN" in script


def test_a_pod_whose_labels_are_null_still_gets_its_proxy_label():
    """`labels: null` is a valid pod: the patch adds the whole map rather than a key under
    a map that is not there (which the API server would refuse, failing the pod's creation)."""
    from osm_mesh.injector.patch import injection_patch
    from tests.emulator.patch import json_patch

    the_pod = pod()
    the_pod["metadata"]["labels"] = None
    patched = json_patch(the_pod, injection_patch(the_pod, namespace(), SETTINGS, "u"))
    assert patched["metadata"]["labels"]["osm-proxy-uuid"] == "u"
