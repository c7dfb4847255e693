"""Seed the Kubernetes API emulator with what the `osm` commands look at.

Objects are complete enough for the real ``kubernetes`` client to validate, and carry
the labels upstream osm puts on them (osm_mesh.labels), so the commands find them the
way they would find a real mesh.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from osm_mesh import labels as L

SMI_VERSIONS = {
    "HTTPRouteGroup": "specs.smi-spec.io/v1alpha4",
    "TCPRoute": "specs.smi-spec.io/v1alpha4",
    "TrafficSplit": "split.smi-spec.io/v1alpha2",
    "TrafficTarget": "access.smi-spec.io/v1alpha3",
}


def namespace(
    emu: Any,
    name: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels or {})}
    if annotations:
        meta["annotations"] = dict(annotations)
    if emu.get("v1", "Namespace", name) is not None:
        emu.delete("v1", "Namespace", name)
    return emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


def _pod_template(app_labels: Mapping[str, str], image: str = "busybox") -> dict:
    return {
        "metadata": {"labels": dict(app_labels)},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def workload(emu: Any, kind: str, ns: str, name: str, **extra_spec: Any) -> dict:
    """A Deployment, StatefulSet or DaemonSet selecting ``app=<name>``."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": _pod_template({"app": name}),
        **extra_spec,
    }
    if kind == "StatefulSet":
        spec.setdefault("serviceName", name)
    return emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
    )


def controller_pods(emu: Any, ns: str) -> list[str]:
    pods = emu.list("v1", "Pod", ns)
    return sorted(
        p["metadata"]["name"]
        for p in pods
        if (p["metadata"].get("labels") or {}).get(L.APP_LABEL) == L.CONTROLLER_APP_LABEL_VALUE
    )


def json_handler(routes: Mapping[str, Any]) -> Callable[[str, str, dict, bytes], tuple]:
    """A fake osm-controller HTTP server: path -> JSON body (404 otherwise)."""

    def handle(method: str, path: str, headers: dict, body: bytes) -> tuple:
        key = "/" + path.split("?", 1)[0].lstrip("/")
        if method == "GET" and key in routes:
            return 200, {"Content-Type": "application/json"}, json.dumps(routes[key]).encode()
        return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"

    return handle


def mesh(
    emu: Any,
    name: str = "osm",
    ns: str = "osm-system",
    version: str | None = "v1.2.4",
    *,
    serve: bool = True,
    version_info: Mapping[str, str] | None = None,
    smi: Mapping[str, str] | None = None,
    bootstrap_role: bool = True,
) -> str:
    """An osm control plane: namespace, labelled osm-controller Deployment and pod, and (as our
    chart installs it; ``bootstrap_role=False`` for upstream's) the ClusterRole for bootstrap
    Secrets that ``osm namespace add`` binds.

    Returns the controller pod's name. ``serve`` answers /version and /smi/version on
    the pod's port 9091 through the API server's pod proxy.
    """
    if emu.get("v1", "Namespace", ns) is None:
        namespace(emu, ns)
    if bootstrap_role:
        emu.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"{name}-osm-bootstrap-secrets"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"]}],
            }
        )
    deployment_labels = {
        L.APP_LABEL: L.CONTROLLER_APP_LABEL_VALUE,
        L.MESH_NAME_LABEL: name,
        L.K8S_APP_NAME_LABEL: L.K8S_APP_NAME_VALUE,
        L.K8S_APP_INSTANCE_LABEL: name,
    }
    if version:
        deployment_labels[L.K8S_APP_VERSION_LABEL] = version
    pod_labels = {
        L.APP_LABEL: L.CONTROLLER_APP_LABEL_VALUE,
        L.K8S_APP_INSTANCE_LABEL: name,
        L.K8S_APP_NAME_LABEL: L.K8S_APP_NAME_VALUE,
    }
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": L.CONTROLLER_NAME, "namespace": ns, "labels": deployment_labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {L.APP_LABEL: L.CONTROLLER_APP_LABEL_VALUE}},
                "template": _pod_template(pod_labels, "osm-controller"),
            },
        }
    )
    pods = controller_pods(emu, ns)
    if not pods:  # an emulator without workload simulation: make the pod ourselves
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{L.CONTROLLER_NAME}-0",
                    "namespace": ns,
                    "labels": pod_labels,
                },
                "spec": _pod_template(pod_labels)["spec"],
            }
        )
        pods = controller_pods(emu, ns)
    pod = pods[0]
    if serve:
        info = version_info or {
            "version": version or "dev",
            "git_commit": "0123abc",
            "build_date": "2026-11-01-00:00",
        }
        routes = {"/version": dict(info), "/smi/version": dict(smi or SMI_VERSIONS)}
        emu.serve_pod_proxy(ns, pod, L.CONTROLLER_HTTP_PORT, json_handler(routes))
    return pod


def meshed_pod(
    emu: Any, ns: str, name: str, uuid: str = "6b1f4a4e-0000-4000-8000-000000000001"
) -> dict:
    return emu.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {L.PROXY_UUID_LABEL: uuid}},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        }
    )


def ns_meta(emu: Any, name: str) -> tuple[dict, dict]:
    obj = emu.get("v1", "Namespace", name)
    assert obj is not None, name
    meta = obj["metadata"]
    return dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
