"""Kubernetes-shaped objects -> ``Catalog`` (pure, linear in the number of objects)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

from osm_mesh import labels
from osm_mesh.catalog.loader import Document
from osm_mesh.catalog.model import Catalog, FrozenMap, Identity, Pod, Service, ServicePort
from osm_mesh.catalog.shape import as_dict, as_list, dig
from osm_mesh.smi.meshconfig import CONFIG_GROUP, parse_mesh_config
from osm_mesh.smi.model import (
    HTTPRouteGroup,
    MeshConfig,
    ObjectRef,
    Problem,
    TCPRoute,
    TrafficSplit,
    TrafficTarget,
    UDPRoute,
)
from osm_mesh.smi.parse import is_smi, parse_smi
from osm_mesh.smi.policy_ext import is_policy, parse_policy
from osm_mesh.smi.policy_model import FaultInjection, Retry, UpstreamTrafficSetting

# Controllers whose pod template becomes pods (DaemonSets count as one replica).
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")
# (namespace, deployment, replica index, pod name) -> the pod's IP ("" = none yet).
PodIpHook = Callable[[str, str, int, str], str]
# A namespace set, or "all" (every namespace seen), or None (labelled monitored-by only).
Monitored = Iterable[str] | str | None

PROTOCOL_PREFIXES = (("http", "http"), ("grpc", "grpc"), ("tcp", "tcp"), ("udp", "udp"))
_APP_PROTOCOLS = {
    "http": "http",
    "http2": "http",
    "h2c": "http",
    "kubernetes.io/h2c": "http",
    "https": "tcp",
    "tls": "tcp",
    "grpc": "grpc",
    "tcp": "tcp",
    "udp": "udp",
}


def port_protocol(port: dict[str, Any]) -> str:
    """appProtocol, else the port-name prefix (http-, tcp-, grpc-), else HTTP (OSM's rule)."""
    if str(port.get("protocol", "TCP")).upper() == "UDP":
        return "udp"
    app = str(port.get("appProtocol") or "").lower()
    if app in _APP_PROTOCOLS:
        return _APP_PROTOCOLS[app]
    name = str(port.get("name") or "").lower()
    for prefix, protocol in PROTOCOL_PREFIXES:
        if name == prefix or name.startswith(prefix + "-"):
            return protocol
    return "http"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _ns(obj: dict[str, Any]) -> str:
    return str(_meta(obj).get("namespace") or "default")


def _strmap(value: Any) -> FrozenMap:
    if not isinstance(value, dict):
        return FrozenMap()
    return FrozenMap({str(k): str(v) for k, v in value.items()})


def service_from(obj: dict[str, Any]) -> Service:
    spec = as_dict(obj.get("spec"))
    ports = []
    for i, p in enumerate(as_list(spec.get("ports"))):
        if not isinstance(p, dict) or not isinstance(p.get("port"), int):
            continue
        target = p.get("targetPort", p["port"])
        if isinstance(target, bool) or not isinstance(target, int | str) or target == "":
            target = p["port"]
        target = int(target) if isinstance(target, str) and target.isdigit() else target
        name = str(p.get("name") or ("" if i == 0 else f"port-{p['port']}"))
        ports.append(ServicePort(name, p["port"], target, port_protocol(p)))  # type: ignore[arg-type]
    return Service(
        _ns(obj), str(_meta(obj).get("name")), tuple(sorted(ports)), _strmap(spec.get("selector"))
    )


def _container_ports(pod_spec: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    out = []
    for c in as_list(pod_spec.get("containers")):
        for p in as_list(as_dict(c).get("ports")):
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int):
                out.append((str(p.get("name") or ""), p["containerPort"]))
    return tuple(out)


# A pod in one of these phases has ended all its containers (its proxy too): it serves
# nothing, its IP may already belong to another pod, and its bootstrap certificate must open
# nothing. Kubernetes leaves such pods (finished Jobs) until someone deletes them.
FINISHED_POD_PHASES = ("Succeeded", "Failed")


def is_finished_pod(obj: dict[str, Any]) -> bool:
    return dig(obj, "status", "phase") in FINISHED_POD_PHASES


def pod_from(obj: dict[str, Any]) -> Pod:
    meta, spec = _meta(obj), as_dict(obj.get("spec"))
    pod_labels = _strmap(meta.get("labels"))
    owner = None
    for ref in as_list(meta.get("ownerReferences")):
        if isinstance(ref, dict) and ref.get("kind") == "ReplicaSet":
            # ReplicaSet "<deployment>-<hash>" -> the Deployment name.
            owner = str(ref.get("name", "")).rsplit("-", 1)[0] or None
    return Pod(
        namespace=_ns(obj),
        name=str(meta.get("name")),
        labels=pod_labels,
        service_account=str(
            spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        ),
        ip=str(dig(obj, "status", "podIP") or ""),
        proxy_uuid=pod_labels.get(labels.PROXY_UUID_LABEL),
        container_ports=_container_ports(spec),
        annotations=_strmap(meta.get("annotations")),
        deployment=owner,
    )


def pods_from_deployment(obj: dict[str, Any], pod_ip: PodIpHook | None) -> list[Pod]:
    """Pods a Deployment would run, named ``<deployment>-<i>`` with a stable proxy UUID."""
    meta, spec = _meta(obj), as_dict(obj.get("spec"))
    template = as_dict(spec.get("template"))
    tmeta, tspec = as_dict(template.get("metadata")), as_dict(template.get("spec"))
    replicas = 1 if obj.get("kind") == "DaemonSet" else spec.get("replicas", 1)
    # Capped: a typo like 1000000 must not make lint synthesize a million pods.
    replicas = min(replicas, 100) if isinstance(replicas, int) and replicas >= 0 else 1
    ns, name = _ns(obj), str(meta.get("name"))
    pods = []
    for i in range(replicas):
        pod_name = f"{name}-{i}"
        pods.append(
            Pod(
                namespace=ns,
                name=pod_name,
                labels=_strmap(tmeta.get("labels")),
                service_account=str(
                    tspec.get("serviceAccountName") or tspec.get("serviceAccount") or "default"
                ),
                ip=pod_ip(ns, name, i, pod_name) if pod_ip else "",
                proxy_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"osm-pod:{ns}/{pod_name}")),
                container_ports=_container_ports(tspec),
                annotations=_strmap(tmeta.get("annotations")),
                deployment=name,
            )
        )
    return pods


class Parsed(NamedTuple):
    """What one document contributes to a catalog: a bucket, a key in it, a value, problems.

    Buckets: ``namespace`` (labels), ``account`` (Identity), ``service``, ``pod``,
    ``workload`` (the pods it would run), ``smi`` (key: kind, namespace, name; SMI and
    resilience policies), ``meshconfig``, or ``none`` (ignored, or problems only).
    """

    bucket: str
    key: Any
    value: Any
    problems: tuple[Problem, ...] = ()


@dataclass
class _Acc:
    namespaces: dict[str, FrozenMap]
    services: dict[tuple[str, str], Service]
    pods: dict[tuple[str, str], Pod]
    deployment_pods: dict[tuple[str, str], list[Pod]]
    accounts: set[Identity]
    smi: dict[tuple[str, str, str], Any]
    mesh_configs: list[MeshConfig]
    problems: list[Problem]

    def add(self, parsed: Parsed, doc: Document) -> None:
        self.problems.extend(parsed.problems)
        bucket, key, value = parsed.bucket, parsed.key, parsed.value
        if bucket == "namespace":
            self.namespaces[key] = value
        elif bucket == "account":
            self.accounts.add(value)
        elif bucket == "service":
            self.services[key] = value
        elif bucket == "pod":
            self.pods[key] = value
        elif bucket == "workload":
            self.deployment_pods[key] = value
        elif bucket == "meshconfig":
            self.mesh_configs.append(value)
        elif bucket == "smi":
            if key in self.smi:
                self.problems.append(
                    Problem(
                        "warning",
                        value.ref,
                        "metadata.name",
                        "defined more than once; the last definition wins",
                        "remove or rename the duplicate",
                        doc.file,
                        doc.line,
                    )
                )
            self.smi[key] = value


def build_catalog(
    objects: Iterable[dict[str, Any] | Document],
    *,
    monitored: Monitored = None,
    mesh_name: str | None = None,
    pod_ip: PodIpHook | None = None,
    synthesize_pods: bool = True,
    mesh_config: MeshConfig | None = None,
    version: int = 0,
    problems: Iterable[Problem] = (),
) -> Catalog:
    """Build a Catalog from raw objects (dicts or loader Documents).

    ``monitored``: namespaces in the mesh -- an iterable, ``"all"``, or None for the
    namespaces labelled ``openservicemesh.io/monitored-by`` (``=mesh_name`` when given) and
    not ``openservicemesh.io/ignore``. Deployments become pods (``pods_from_deployment``)
    unless real Pods of that Deployment are given or ``synthesize_pods`` is false.
    """
    acc = _Acc({}, {}, {}, {}, set(), {}, [], list(problems))
    for item in objects:
        doc = item if isinstance(item, Document) else Document(item)
        acc.add(parse_document(doc, pod_ip, synthesize_pods), doc)
    return _finish(acc, monitored, mesh_name, mesh_config, version)


def in_mesh_namespaces(
    monitored: Monitored,
    mesh_name: str | None,
    namespaces: dict[str, FrozenMap],
    seen: set[str],
) -> set[str]:
    """The monitored namespaces, given the Namespace labels and every namespace seen."""
    if monitored == "all":
        return set(seen)
    if monitored is None:
        return {
            ns
            for ns, lab in namespaces.items()
            if labels.MONITORED_BY_LABEL in lab
            and (mesh_name is None or lab[labels.MONITORED_BY_LABEL] == mesh_name)
            and lab.get(labels.IGNORE_LABEL) != labels.IGNORE_LABEL_VALUE
        }
    if isinstance(monitored, str):
        return {monitored}  # one namespace, not its characters
    return set(monitored)


def seen_namespaces(acc: _Acc) -> set[str]:
    seen = set(acc.namespaces) | {k[0] for k in acc.services} | {k[0] for k in acc.pods}
    return seen | {i.namespace for i in acc.accounts} | {k[1] for k in acc.smi}


def _finish(
    acc: _Acc,
    monitored: Monitored,
    mesh_name: str | None,
    mesh_config: MeshConfig | None,
    version: int,
) -> Catalog:
    deployments_with_pods = {(p.namespace, p.deployment) for p in acc.pods.values() if p.deployment}
    for key, pods in acc.deployment_pods.items():
        if key not in deployments_with_pods:
            for p in pods:
                acc.pods.setdefault(p.key, p)

    seen_ns = seen_namespaces(acc)
    in_mesh = in_mesh_namespaces(monitored, mesh_name, acc.namespaces, seen_ns)

    def keep(ns: str) -> bool:
        return ns in in_mesh

    smi = [o for k, o in sorted(acc.smi.items()) if keep(k[1])]
    config = mesh_config or _pick_mesh_config(acc)
    return Catalog(
        monitored_namespaces=frozenset(in_mesh),
        namespaces=tuple(sorted(seen_ns)),
        # (namespace, name) is unique per kind: the dataclass order, without comparing fields.
        services=tuple(sorted((s for s in acc.services.values() if keep(s.namespace)), key=_KEY)),
        pods=tuple(sorted((p for p in acc.pods.values() if keep(p.namespace)), key=_KEY)),
        service_accounts=tuple(sorted((i for i in acc.accounts if keep(i.namespace)), key=_KEY)),
        traffic_targets=tuple(o for o in smi if isinstance(o, TrafficTarget)),
        http_route_groups=tuple(o for o in smi if isinstance(o, HTTPRouteGroup)),
        tcp_routes=tuple(o for o in smi if isinstance(o, TCPRoute)),
        udp_routes=tuple(o for o in smi if isinstance(o, UDPRoute)),
        traffic_splits=tuple(o for o in smi if isinstance(o, TrafficSplit)),
        retries=tuple(o for o in smi if isinstance(o, Retry)),
        upstream_traffic_settings=tuple(o for o in smi if isinstance(o, UpstreamTrafficSetting)),
        fault_injections=tuple(o for o in smi if isinstance(o, FaultInjection)),
        mesh_config=config,
        problems=tuple(acc.problems),
        version=version,
    )


_KEY = attrgetter("namespace", "name")


def _pick_mesh_config(acc: _Acc) -> MeshConfig:
    if not acc.mesh_configs:
        return MeshConfig()
    for c in acc.mesh_configs:
        if c.name == labels.MESH_CONFIG_NAME:
            return c
    return acc.mesh_configs[0]


def _with_place(problems: list[Problem], doc: Document) -> list[Problem]:
    return [
        Problem(
            p.severity,
            p.ref,
            p.field,
            p.message,
            p.hint,
            p.file or doc.file,
            p.line if p.line is not None else doc.line_of(p.field),
            p.code,
        )
        for p in problems
    ]


def parse_document(doc: Document, pod_ip: PodIpHook | None, synthesize: bool) -> Parsed:
    """What one document contributes to a catalog (see :class:`Parsed`)."""
    obj = doc.obj
    kind = str(obj.get("kind", ""))
    api_version = str(obj.get("apiVersion", ""))
    meta = _meta(obj)
    name = str(meta.get("name") or "")
    if is_smi(obj) or is_policy(obj):
        # Resilience policies (policy.openservicemesh.io) are kept beside the SMI objects.
        parsed, problems = parse_policy(obj) if is_policy(obj) else parse_smi(obj)
        found = tuple(_with_place(problems, doc))
        if parsed is None:
            return Parsed("none", None, None, found)
        return Parsed("smi", (kind, parsed.namespace, parsed.name), parsed, found)
    if api_version.startswith(CONFIG_GROUP + "/") and kind == "MeshConfig":
        config, problems = parse_mesh_config(obj)
        found = tuple(_with_place(problems, doc))
        if config is None:
            return Parsed("none", None, None, found)
        return Parsed("meshconfig", None, config, found)
    if not name:
        if kind in ("Namespace", "ServiceAccount", "Service", "Pod", "Deployment"):
            problem = Problem(
                "error",
                ObjectRef(kind, None, "<unnamed>", api_version),
                "metadata.name",
                "missing name",
                "set metadata.name",
                doc.file,
                doc.line,
            )
            return Parsed("none", None, None, (problem,))
        return Parsed("none", None, None)
    if kind == "Namespace" and api_version == "v1":
        return Parsed("namespace", name, _strmap(meta.get("labels")))
    if kind == "ServiceAccount" and api_version == "v1":
        identity = Identity(_ns(obj), name)
        return Parsed("account", identity, identity)
    if kind == "Service" and api_version == "v1":
        svc = service_from(obj)
        return Parsed("service", svc.key, svc)
    if kind == "Pod" and api_version == "v1":
        if is_finished_pod(obj):
            return Parsed("none", None, None)  # not in the mesh any more (see above)
        pod = pod_from(obj)
        return Parsed("pod", pod.key, pod)
    if kind in WORKLOAD_KINDS and api_version == "apps/v1" and synthesize:
        return Parsed("workload", (_ns(obj), name), pods_from_deployment(obj, pod_ip))
    return Parsed("none", None, None)
