"""The application both control planes are given: ``services`` services of ``per_service``
pods each, in pairs that may call each other (service 2k ↔ 2k+1) over SMI.

Per service ``s<i>``: ServiceAccount ``s<i>``, Service ``s<i>`` (port 8080), an HTTPRouteGroup
``r<i>`` with one match (GET, path ``/s<i>/<marker>``) and a TrafficTarget ``t<i>`` letting the
pair's ServiceAccount call it on that route (access v1alpha3 and specs v1alpha4: what upstream
v1.2 serves). Pods are bound to the stand-in node (which gives them addresses and reports them
ready) and carry the ``osm-proxy-uuid`` label the injector would set; their proxies are the
simulated ones. Changing a route group's path changes the inbound route table of that service's
pods only: the proxies a scoped control plane has to update.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

NODE_NAME = "osm-node"


@dataclass(frozen=True)
class PodProxy:
    name: str
    namespace: str
    service: str
    service_account: str
    proxy_uuid: str


def pair(i: int) -> int:
    return i ^ 1


def route_group(namespace: str, i: int, marker: str) -> dict:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": f"r{i}", "namespace": namespace},
        "spec": {"matches": [{"name": "m", "methods": ["GET"], "pathRegex": f"/s{i}/{marker}"}]},
    }


def service_objects(namespace: str, i: int, marker: str) -> list[dict]:
    name = f"s{i}"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"selector": {"app": name},
                  "ports": [{"name": "http", "port": 8080, "targetPort": 8080,
                             "appProtocol": "http"}]}},
        route_group(namespace, i, marker),
        {"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
         "metadata": {"name": f"t{i}", "namespace": namespace},
         "spec": {"destination": {"kind": "ServiceAccount", "name": name,
                                  "namespace": namespace},
                  "sources": [{"kind": "ServiceAccount", "name": f"s{pair(i)}",
                               "namespace": namespace}],
                  "rules": [{"kind": "HTTPRouteGroup", "name": f"r{i}", "matches": ["m"]}]}},
    ]  # fmt: skip


def pod_object(proxy: PodProxy) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": proxy.name,
            "namespace": proxy.namespace,
            "labels": {"app": proxy.service, "osm-proxy-uuid": proxy.proxy_uuid},
        },
        "spec": {
            "nodeName": NODE_NAME,
            "serviceAccountName": proxy.service_account,
            "containers": [
                {"name": "app", "image": "app:simulated", "ports": [{"containerPort": 8080}]}
            ],
        },
    }


def pods_for(namespace: str, i: int, per_service: int) -> list[PodProxy]:
    name = f"s{i}"
    return [
        PodProxy(f"{name}-{j}", namespace, name, name, str(uuid.uuid4()))
        for j in range(per_service)
    ]
