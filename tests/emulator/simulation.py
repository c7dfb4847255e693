"""Controllers in miniature: Deployments, StatefulSets and DaemonSets get Running pods.

What a CLI observes on a real cluster after `kubectl apply` is pods named
after their owner, labelled from the template, Ready, and a workload status
saying so; after `kubectl rollout restart` (a template annotation) the pods
are replaced by new ones. This module reproduces exactly that, synchronously
inside the write that triggered it, so tests never sleep or poll.

``set_not_ready`` models the common failure (an image that cannot be pulled):
pods stay Pending with a waiting reason, an Event says why, and the workload
reports zero ready replicas until ``set_ready``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from tests.emulator import objects
from tests.emulator.api import Api, random_suffix
from tests.emulator.resources import ResourceType
from tests.emulator.status import ApiError

WORKLOADS = ("deployments", "statefulsets", "daemonsets")
_HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_CHARS[b % len(_HASH_CHARS)] for b in digest[:10])


def _owner_ref(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _owned_by(obj: dict, owner_uid: str) -> bool:
    return any(r.get("uid") == owner_uid for r in obj["metadata"].get("ownerReferences") or [])


ROOT_CA_NOTE = "kubernetes.io/description"
ROOT_CA_TEXT = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)
EMULATOR_CA = "-----BEGIN CERTIFICATE-----\nZW11bGF0b3I=\n-----END CERTIFICATE-----\n"


class WorkloadSimulation:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.not_ready: dict[tuple[str, str, str], str] = {}
        api.listeners.append(self.on_change)
        for namespace in api.store.list(("", "namespaces")):
            self.populate_namespace(namespace["metadata"]["name"])

    def _rt(self, group: str, plural: str) -> ResourceType:
        return self.api.types[(group, plural)]

    # --- events from the API ----------------------------------------------------

    def on_change(self, rt: ResourceType, event: str, old: dict | None, new: dict | None) -> None:
        spec_changed = (
            old is None
            or new is None
            or old.get("spec") != new.get("spec")
            or old["metadata"].get("generation") != new["metadata"].get("generation")
        )
        if rt.group == "apps" and rt.plural in WORKLOADS and new is not None and spec_changed:
            # Status-only writes (kubectl, tests) are left alone until the spec changes.
            with self.api.store.lock:
                self.reconcile(rt.plural, new["metadata"]["namespace"], new["metadata"]["name"])
        elif rt.key == ("", "namespaces") and event == "ADDED" and new is not None:
            with self.api.store.lock:
                self.populate_namespace(new["metadata"]["name"])
        elif rt.key == ("batch", "jobs") and event == "ADDED" and new is not None:
            with self.api.store.lock:
                self.complete_job(new)
        elif rt.key == ("", "pods") and event == "DELETED" and old is not None:
            # A deleted pod of a workload is replaced, as its controller would.
            owner = self._workload_of(old)
            if owner is not None:
                with self.api.store.lock:
                    self.reconcile(*owner)

    def populate_namespace(self, namespace: str) -> None:
        """What kube-controller-manager puts in every namespace: the `default`
        ServiceAccount (serviceaccount controller) and the `kube-root-ca.crt` ConfigMap
        (root-ca-cert-publisher), as a real cluster has them (tests/kube/parity)."""
        seeds: tuple[tuple[tuple[str, str], dict[str, Any]], ...] = (
            (("", "serviceaccounts"), {"metadata": {"name": "default"}}),
            (
                ("", "configmaps"),
                {
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "annotations": {ROOT_CA_NOTE: ROOT_CA_TEXT},
                    },
                    "data": {"ca.crt": EMULATOR_CA},
                },
            ),
        )
        for key, body in seeds:
            if self.api.store.get(key, namespace, body["metadata"]["name"]) is None:
                self.api.create(self.api.types[key], namespace, copy.deepcopy(body))

    def _workload_of(self, pod: dict) -> tuple[str, str, str] | None:
        ns = pod["metadata"].get("namespace", "")
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet":
                rs = self.api.store.get(("apps", "replicasets"), ns, ref.get("name", ""))
                for rs_ref in (rs or {}).get("metadata", {}).get("ownerReferences") or []:
                    if rs_ref.get("kind") == "Deployment":
                        return ("deployments", ns, rs_ref["name"])
            elif ref.get("kind") in ("StatefulSet", "DaemonSet"):
                return (ref["kind"].lower() + "s", ns, ref["name"])
        return None

    # --- reconciliation -----------------------------------------------------------

    def reconcile(self, plural: str, namespace: str, name: str) -> None:
        workload = self.api.store.get(("apps", plural), namespace, name)
        if workload is None:
            return
        template = (workload.get("spec") or {}).get("template") or {}
        revision = template_hash(template)
        replicas = 1 if plural == "daemonsets" else int(workload["spec"].get("replicas", 1))
        owner = workload
        if plural == "deployments":
            owner = self._replicaset(workload, revision, replicas)
        pods = [
            p
            for p in self.api.store.list(("", "pods"), namespace)
            if _owned_by(p, owner["metadata"]["uid"])
        ]
        stale = [p for p in pods if self._revision(plural, p) != revision]
        current = [p for p in pods if p not in stale]
        for pod in stale + current[replicas:]:
            self._delete_pod(pod)
        current = current[:replicas]
        reason = self.not_ready.get((plural, namespace, name))
        taken = {p["metadata"]["name"] for p in current}
        for index in range(len(current), replicas):
            current.append(
                self._create_pod(plural, owner, template, revision, index, taken, reason)
            )
        self._update_status(plural, workload, owner, current, revision)

    def _revision(self, plural: str, pod: dict) -> str | None:
        labels = pod["metadata"].get("labels") or {}
        key = "pod-template-hash" if plural == "deployments" else "controller-revision-hash"
        value = labels.get(key)
        return value.rsplit("-", 1)[-1] if value and plural != "deployments" else value

    def _replicaset(self, deployment: dict, revision: str, replicas: int) -> dict:
        ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        rs_rt = self._rt("apps", "replicasets")
        for rs in self.api.store.list(rs_rt.key, ns):
            owned = _owned_by(rs, deployment["metadata"]["uid"])
            if owned and rs["metadata"]["name"] != f"{name}-{revision}":
                self.api.delete(rs_rt, ns, rs["metadata"]["name"], notify=False)
        existing = self.api.store.get(rs_rt.key, ns, f"{name}-{revision}")
        template = copy.deepcopy(deployment["spec"].get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = revision
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = revision
        body = {
            "metadata": {
                "name": f"{name}-{revision}",
                "namespace": ns,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [_owner_ref(deployment)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        if existing is None:
            return self.api.create(rs_rt, ns, body, notify=False)
        if existing["spec"].get("replicas") != replicas:
            existing["spec"]["replicas"] = replicas
            return self.api.replace(rs_rt, ns, existing["metadata"]["name"], existing, notify=False)
        return existing

    def _create_pod(
        self,
        plural: str,
        owner: dict,
        template: dict,
        revision: str,
        index: int,
        taken: set[str],
        reason: str | None,
    ) -> dict:
        ns, owner_name = owner["metadata"]["namespace"], owner["metadata"]["name"]
        meta = copy.deepcopy(template.get("metadata") or {})
        labels = meta.setdefault("labels", {})
        if plural == "deployments":
            labels["pod-template-hash"] = revision
        else:
            labels["controller-revision-hash"] = f"{owner_name}-{revision}"
        if plural == "statefulsets":
            name = f"{owner_name}-{index}"
            labels["statefulset.kubernetes.io/pod-name"] = name
        else:
            name = f"{owner_name}-{random_suffix()}"
            while name in taken:
                name = f"{owner_name}-{random_suffix()}"
        taken.add(name)
        meta.update(name=name, namespace=ns, ownerReferences=[_owner_ref(owner)])
        meta.pop("generateName", None)
        spec = copy.deepcopy(template.get("spec") or {"containers": []})
        objects.pod_spec_defaults(spec)
        spec["nodeName"] = objects.NODE_NAME
        pod_status = objects.running_pod_status(spec, ready=reason is None, reason=reason)
        pod_rt = self._rt("", "pods")
        pod = self.api.create(
            pod_rt, ns, {"metadata": meta, "spec": spec, "status": pod_status}, notify=False
        )
        if reason is not None:
            self._failure_events(pod, reason)
        return pod

    def _delete_pod(self, pod: dict) -> None:
        try:
            meta = pod["metadata"]
            self.api.delete(self._rt("", "pods"), meta["namespace"], meta["name"], notify=False)
        except ApiError:
            pass

    def _update_status(
        self, plural: str, workload: dict, owner: dict, pods: list[dict], revision: str
    ) -> None:
        total = len(pods)
        ready = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")
        generation = workload["metadata"].get("generation", 1)
        ts = objects.now()
        if plural == "deployments":
            available = "True" if ready >= total else "False"
            new_status: dict = {
                "observedGeneration": generation,
                "replicas": total,
                "updatedReplicas": total,
                "conditions": [
                    {
                        "type": "Available",
                        "status": available,
                        "reason": "MinimumReplicasAvailable"
                        if available == "True"
                        else "MinimumReplicasUnavailable",
                        "message": "Deployment has minimum availability."
                        if available == "True"
                        else "Deployment does not have minimum availability.",
                        "lastTransitionTime": ts,
                        "lastUpdateTime": ts,
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable",
                        "message": f'ReplicaSet "{owner["metadata"]["name"]}" has successfully '
                        "progressed.",
                        "lastTransitionTime": ts,
                        "lastUpdateTime": ts,
                    },
                ],
            }
            if ready:
                new_status.update(readyReplicas=ready, availableReplicas=ready)
            if total - ready:
                new_status["unavailableReplicas"] = total - ready
            rs_status = {
                "replicas": total,
                "fullyLabeledReplicas": total,
                "observedGeneration": owner["metadata"].get("generation", 1),
            }
            if ready:
                rs_status.update(readyReplicas=ready, availableReplicas=ready)
            self._write_status(("apps", "replicasets"), owner, rs_status)
        elif plural == "statefulsets":
            rev = f"{workload['metadata']['name']}-{revision}"
            new_status = {
                "observedGeneration": generation,
                "replicas": total,
                "currentReplicas": total,
                "updatedReplicas": total,
                "currentRevision": rev,
                "updateRevision": rev,
                "collisionCount": 0,
                "availableReplicas": ready,
            }
            if ready:
                new_status["readyReplicas"] = ready
        else:
            new_status = {
                "observedGeneration": generation,
                "currentNumberScheduled": total,
                "desiredNumberScheduled": total,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "updatedNumberScheduled": total,
            }
            if total - ready:
                new_status["numberUnavailable"] = total - ready
        self._write_status(("apps", plural), workload, new_status)

    def _write_status(self, key: tuple[str, str], obj: dict, new_status: dict) -> None:
        current = self.api.store.get(key, obj["metadata"]["namespace"], obj["metadata"]["name"])
        if current is None or current.get("status") == new_status:
            return
        current["status"] = new_status
        self.api.replace(
            self.api.types[key],
            current["metadata"]["namespace"],
            current["metadata"]["name"],
            current,
            subresource="status",
            notify=False,
        )

    def complete_job(self, job: dict) -> None:
        """Jobs run one pod that succeeds at once (helm hooks wait for `Complete`)."""
        ns, name, uid = (
            job["metadata"]["namespace"],
            job["metadata"]["name"],
            job["metadata"]["uid"],
        )
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        meta = template.get("metadata") or {}
        labels = meta.setdefault("labels", {})
        for key, value in (("job-name", name), ("controller-uid", uid)):
            labels[key] = labels[f"batch.kubernetes.io/{key}"] = value
        meta.update(
            name=f"{name}-{random_suffix()}", namespace=ns, ownerReferences=[_owner_ref(job)]
        )
        spec = template.get("spec") or {"containers": []}
        objects.pod_spec_defaults(spec)
        spec["nodeName"] = objects.NODE_NAME
        pod_status = objects.completed_pod_status(spec)
        self.api.create(
            self._rt("", "pods"),
            ns,
            {"metadata": meta, "spec": spec, "status": pod_status},
            notify=False,
        )
        ts = objects.now()
        job_status = {
            "startTime": ts,
            "completionTime": ts,
            "succeeded": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                {
                    "type": "SuccessCriteriaMet",
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                    "lastProbeTime": ts,
                    "lastTransitionTime": ts,
                },
                {
                    "type": "Complete",
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                    "lastProbeTime": ts,
                    "lastTransitionTime": ts,
                },
            ],
        }
        self._write_status(("batch", "jobs"), job, job_status)

    # --- failure injection ------------------------------------------------------------

    def set_not_ready(self, plural: str, namespace: str, name: str, reason: str) -> None:
        self._set(plural, namespace, name, reason)

    def set_ready(self, plural: str, namespace: str, name: str) -> None:
        self._set(plural, namespace, name, None)

    def _set(self, plural: str, namespace: str, name: str, reason: str | None) -> None:
        if plural not in WORKLOADS:
            raise ValueError(f"not a simulated workload kind: {plural!r} (use one of {WORKLOADS})")
        with self.api.store.lock:
            workload = self.api.store.get(("apps", plural), namespace, name)
            if workload is None:
                raise KeyError(f"{plural}/{name} does not exist in namespace {namespace!r}")
            if reason is None:
                self.not_ready.pop((plural, namespace, name), None)
            else:
                self.not_ready[(plural, namespace, name)] = reason
            # Replace the pods so they come up in the new state (fresh names, fresh events).
            owner_uids = {workload["metadata"]["uid"]}
            for rs in self.api.store.list(("apps", "replicasets"), namespace):
                if _owned_by(rs, workload["metadata"]["uid"]):
                    owner_uids.add(rs["metadata"]["uid"])
            for pod in self.api.store.list(("", "pods"), namespace):
                if any(_owned_by(pod, uid) for uid in owner_uids):
                    self._delete_pod(pod)
            self.reconcile(plural, namespace, name)

    def _failure_events(self, pod: dict, reason: str) -> None:
        meta = pod["metadata"]
        images = [c.get("image", "") for c in pod["spec"].get("containers") or []]
        image = images[0] if images else ""
        for event_reason, message in (
            ("Failed", f'Failed to pull image "{image}": {reason}'),
            ("BackOff", f'Back-off pulling image "{image}"'),
        ):
            self.api.create(
                self._rt("", "events"),
                meta["namespace"],
                {
                    "metadata": {
                        "generateName": f"{meta['name']}.",
                        "namespace": meta["namespace"],
                    },
                    "involvedObject": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "uid": meta["uid"],
                    },
                    "reason": event_reason,
                    "message": message,
                    "type": "Warning",
                    "source": {"component": "kubelet", "host": objects.NODE_NAME},
                },
                notify=False,
            )
