"""Server-side defaulting and the little validation the emulator does.

The kubernetes client validates every response with pydantic models that
forbid unknown fields and require some (containerStatuses need imageID, ...),
so defaults here are complete and use only real field names. Validation is
limited to what a CLI can trip over: object names (DNS-1123).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
import uuid

from tests.emulator.resources import ResourceType
from tests.emulator.status import ApiError, invalid

NODE_NAME = "emulator-node"
HOST_IP = "192.168.49.2"

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    r"for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)  # sic: apimachinery's RegexError joins the examples with ",  or "
DOTS_MSG = "must not contain dots"  # a valid subdomain that is no label (IsDNS1123Label)
# Namespaces and services become DNS labels, so the server holds them to the stricter rule.
LABEL_NAMED = {("", "namespaces"), ("", "services")}

_pod_ips = itertools.count(10)
_cluster_ips = itertools.count(10)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_pod_ip() -> str:
    n = next(_pod_ips)
    return f"10.244.{n // 250}.{n % 250 + 2}"


def next_cluster_ip() -> str:
    n = next(_cluster_ips)
    return f"10.96.{n // 250}.{n % 250 + 2}"


def validate_name(rt: ResourceType, obj: dict) -> None:
    name = obj["metadata"].get("name") or ""
    if not name:
        raise ApiError(
            422,
            "Invalid",
            f'{rt.kind} "" is invalid: metadata.name: Required value: name or generateName '
            "is required",
            {
                "kind": rt.kind,
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
            },
        )
    if rt.key in LABEL_NAMED:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            dots = len(name) <= 63 and _DNS1123_SUBDOMAIN.match(name)
            raise invalid(rt.kind, name, "metadata.name", name, DOTS_MSG if dots else LABEL_MSG, rt)
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise invalid(rt.kind, name, "metadata.name", name, SUBDOMAIN_MSG, rt)


# Built-in kinds whose registry strategy keeps metadata.generation (k8s.io/kubernetes
# pkg/registry: `Generation = 1` in PrepareForCreate); custom resources and CRDs keep it too.
# ConfigMaps, Secrets, Services, Namespaces... have none.
GENERATION_KINDS = {
    ("", "pods"),
    ("", "podtemplates"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("policy", "poddisruptionbudgets"),
    ("discovery.k8s.io", "endpointslices"),
    ("autoscaling", "horizontalpodautoscalers"),
}


def has_generation(rt: ResourceType) -> bool:
    return not rt.builtin or rt.key in GENERATION_KINDS


ROLE_BINDINGS = {
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
}


def check_immutable(rt: ResourceType, new: dict, current: dict) -> None:
    """A binding's roleRef cannot change (delete and create instead)."""
    if rt.key in ROLE_BINDINGS and new.get("roleRef") != current.get("roleRef"):
        ref = new.get("roleRef") or {}
        shown = (
            f'{{"APIGroup":"{ref.get("apiGroup", "")}","Kind":"{ref.get("kind", "")}",'
            f'"Name":"{ref.get("name", "")}"}}'
        )
        cause = f"Invalid value: {shown}: field is immutable"
        name = current["metadata"]["name"]
        raise ApiError(
            422,
            "Invalid",
            f'{rt.kind}.{rt.group} "{name}" is invalid: roleRef: {cause}',
            {
                "name": name,
                "group": rt.group,
                "kind": rt.kind,
                "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "roleRef"}],
            },
        )


def fill_metadata(obj: dict, namespace: str | None, rt: ResourceType | None = None) -> None:
    meta = obj.setdefault("metadata", {})
    if namespace:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    if rt is None or has_generation(rt):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    for key in ("resourceVersion", "deletionTimestamp", "selfLink"):
        meta.pop(key, None)


def apply_defaults(rt: ResourceType, obj: dict) -> None:
    """Fill what the real API server's defaulting and admission would."""
    handler = _DEFAULTERS.get(rt.key)
    if handler:
        handler(obj)


def _namespace(obj: dict) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def pod_spec_defaults(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        image = str(container.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def running_pod_status(spec: dict, ready: bool = True, reason: str | None = None) -> dict:
    """status of a scheduled pod: Running and Ready, or Pending and waiting on ``reason``."""
    ts = now()
    ready_s = "True" if ready else "False"
    statuses = []
    for container in spec.get("containers") or []:
        image = str(container.get("image", ""))
        entry: dict = {
            "name": container.get("name", ""),
            "image": image,
            "imageID": f"docker-pullable://{image}@sha256:{'0' * 64}" if ready else "",
            "ready": ready,
            "restartCount": 0,
            "started": ready,
        }
        if ready:
            entry["containerID"] = f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}"
            entry["state"] = {"running": {"startedAt": ts}}
        else:
            entry["state"] = {
                "waiting": {"reason": reason, "message": f'Back-off pulling image "{image}"'}
            }
        statuses.append(entry)
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
        {"type": "Initialized", "status": "True", "lastTransitionTime": ts},
        {"type": "ContainersReady", "status": ready_s, "lastTransitionTime": ts},
        {"type": "Ready", "status": ready_s, "lastTransitionTime": ts},
    ]
    if not ready:
        for cond in conditions[2:]:
            cond["reason"] = "ContainersNotReady"
    ip = next_pod_ip()
    return {
        "phase": "Running" if ready else "Pending",
        "conditions": conditions,
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": ts,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    }


def completed_pod_status(spec: dict) -> dict:
    """status of a pod whose containers all exited 0 (a finished Job's pod)."""
    status = running_pod_status(spec)
    status["phase"] = "Succeeded"
    for cond in status["conditions"][2:]:
        cond.update(status="False", reason="PodCompleted")
    for entry in status["containerStatuses"]:
        entry.update(ready=False, started=False)
        entry["state"] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": status["startTime"],
                "finishedAt": status["startTime"],
                "containerID": entry["containerID"],
            }
        }
    return status


def _pod(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("containers", [])
    pod_spec_defaults(spec)
    spec.setdefault("nodeName", NODE_NAME)
    if not obj.get("status"):
        obj["status"] = running_pod_status(spec)


def _service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None":
        spec.setdefault("clusterIP", next_cluster_ip())
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def _secret(obj: dict) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


# What a freshly created workload reports before its controller acts (the typed
# client requires these fields).
_INITIAL_STATUS = {
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
    "ReplicaSet": {"replicas": 0},
}


def _workload(obj: dict) -> None:
    if not obj.get("status"):
        obj["status"] = dict(_INITIAL_STATUS.get(obj.get("kind", ""), {}))
    spec = obj.setdefault("spec", {})
    if "replicas" not in spec and obj.get("kind") != "DaemonSet":
        spec["replicas"] = 1
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec_defaults(template.setdefault("spec", {"containers": []}))


def _deployment(obj: dict) -> None:
    _workload(obj)
    spec = obj["spec"]
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )


def _statefulset(obj: dict) -> None:
    _workload(obj)
    obj["spec"].setdefault("podManagementPolicy", "OrderedReady")
    obj["spec"].setdefault("updateStrategy", {"type": "RollingUpdate"})
    obj["spec"].setdefault("serviceName", "")


def _daemonset(obj: dict) -> None:
    _workload(obj)
    obj["spec"].setdefault("updateStrategy", {"type": "RollingUpdate"})


def _crd(obj: dict) -> None:
    spec = obj.get("spec") or {}
    ts = now()
    obj["status"] = {
        "acceptedNames": spec.get("names") or {},
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": ts,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": ts,
            },
        ],
    }


def _serviceaccount(obj: dict) -> None:
    obj.pop("status", None)


def _event(obj: dict) -> None:
    obj.setdefault("involvedObject", {})
    obj.setdefault("eventTime", None)  # a zero MicroTime: the API server writes null
    ts = now()
    obj.setdefault("firstTimestamp", ts)
    obj.setdefault("lastTimestamp", ts)
    obj.setdefault("count", 1)
    obj.setdefault("type", "Normal")
    obj.setdefault("source", {"component": "emulator"})


_DEFAULTERS = {
    ("", "namespaces"): _namespace,
    ("", "pods"): _pod,
    ("", "services"): _service,
    ("", "secrets"): _secret,
    ("", "serviceaccounts"): _serviceaccount,
    ("", "events"): _event,
    ("apps", "deployments"): _deployment,
    ("apps", "statefulsets"): _statefulset,
    ("apps", "daemonsets"): _daemonset,
    ("apps", "replicasets"): _workload,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crd,
}
