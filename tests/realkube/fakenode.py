"""A stand-in node for the control-plane-only cluster, in the way kwok fakes nodes: it
registers Node `osm-node`, renews its lease, and reports every pod bound to it as running and
ready — nothing runs. It authenticates as the kubelet does (system:node:osm-node), so the Node
authorizer and NodeRestriction judge its writes like a real kubelet's.

With a real node (`--node`, node.py) the real kubelet takes this place.

python -m tests.realkube.fakenode KUBECONFIG
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
import threading
import time

from kubernetes import client, config, watch

from tests.realkube.layout import NODE_IP, NODE_NAME, NODE_POD_CIDR, POD_CIDR

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class FakeNode:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        # Addresses from the whole pod range, not the node's /24: nothing routes them, and
        # scale tests bind more than 253 pods to this one node. Freed addresses are reused.
        self._addresses = (str(ip) for ip in ipaddress.ip_network(POD_CIDR).hosts())
        next(self._addresses)  # .1 is the bridge's gateway on a real node
        self._pod_ips: dict[str, str] = {}
        self._free: list[str] = []

    def register(self) -> None:
        node = {
            "metadata": {
                "name": NODE_NAME,
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    # A kubelet sets it; upstream OSM's chart requires it (node affinity).
                    "kubernetes.io/arch": "amd64",
                    "node.osm.test/fake": "true",
                },
            },
            "spec": {"podCIDR": NODE_POD_CIDR, "podCIDRs": [NODE_POD_CIDR]},
        }
        try:
            self.core.create_node(node)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        self.report_status()

    def report_status(self) -> None:
        now = _now().isoformat()
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "fake node (tests/realkube/fakenode.py): nothing runs",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        status = {
            "status": {
                "conditions": [ready],
                "addresses": [
                    {"type": "InternalIP", "address": NODE_IP},
                    {"type": "Hostname", "address": NODE_NAME},
                ],
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "1100"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "1100"},
                "nodeInfo": {
                    "kubeletVersion": "fake",
                    "kubeProxyVersion": "fake",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "fake://0",
                    "kernelVersion": "",
                    "osImage": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            }
        }
        self.core.patch_node_status(NODE_NAME, status)

    def renew_lease(self) -> None:
        now = _now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "metadata": {"name": NODE_NAME, "namespace": LEASE_NAMESPACE},
            "spec": {
                "holderIdentity": NODE_NAME,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": now,
            },
        }
        try:
            self.coordination.patch_namespaced_lease(NODE_NAME, LEASE_NAMESPACE, body)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease(LEASE_NAMESPACE, body)

    def heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(10):
            try:
                self.renew_lease()
                self.report_status()
            except Exception as exc:  # keep beating through an API server restart
                print(f"fakenode: heartbeat failed: {exc}", file=sys.stderr, flush=True)

    def reconcile(self, pod: client.V1Pod) -> None:
        meta = pod.metadata
        key = f"{meta.namespace}/{meta.name}"
        if meta.deletion_timestamp is not None:
            # A kubelet confirms a graceful deletion once the containers stopped. The grace
            # period must be in the body: as a query parameter the server keeps the 30 s.
            options = client.V1DeleteOptions(
                grace_period_seconds=0, preconditions={"uid": meta.uid}
            )
            try:
                self.core.delete_namespaced_pod(meta.name, meta.namespace, body=options)
            except client.ApiException as exc:
                if exc.status not in (404, 409):
                    raise
            if key in self._pod_ips:
                self._free.append(self._pod_ips.pop(key))
            return
        if pod.status and pod.status.phase in ("Succeeded", "Failed"):
            return  # a finished container is never started again (the API server refuses it)
        if pod.status and pod.status.phase == "Running" and pod.status.pod_ip:
            return
        if key not in self._pod_ips:
            self._pod_ips[key] = self._free.pop() if self._free else next(self._addresses)
        ip = self._pod_ips[key]
        now = _now().isoformat()
        conditions = [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        containers = [
            {
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
            for c in pod.spec.containers
        ]
        init = [
            {
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
            }
            for c in pod.spec.init_containers or []
        ]
        status = {
            "status": {
                "phase": "Running",
                "hostIP": NODE_IP,
                "hostIPs": [{"ip": NODE_IP}],
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": now,
                "conditions": conditions,
                "containerStatuses": containers,
                "initContainerStatuses": init,
            }
        }
        try:
            self.core.patch_namespaced_pod_status(meta.name, meta.namespace, status)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def run(self, stop: threading.Event) -> None:
        self.register()
        self.renew_lease()
        threading.Thread(target=self.heartbeat, args=(stop,), daemon=True).start()
        selector = f"spec.nodeName={NODE_NAME}"
        while not stop.is_set():
            try:
                # List, then watch from the list's version, with a read timeout: a watch opened
                # while the API server restarts can stay silent forever without one.
                pods = self.core.list_pod_for_all_namespaces(
                    field_selector=selector, _request_timeout=(5, 30)
                )
                for pod in pods.items:
                    self.reconcile(pod)
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    resource_version=pods.metadata.resource_version,
                    timeout_seconds=30,
                    _request_timeout=(5, 45),
                )
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.reconcile(event["object"])
            except Exception as exc:  # API server restarts, 410 Gone, timeouts: list again
                print(f"fakenode: watch ended: {exc}", file=sys.stderr, flush=True)
                time.sleep(1)


def main(argv: list[str]) -> int:
    config.load_kube_config(argv[0])
    FakeNode(client.ApiClient()).run(threading.Event())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
