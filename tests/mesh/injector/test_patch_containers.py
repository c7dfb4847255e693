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
