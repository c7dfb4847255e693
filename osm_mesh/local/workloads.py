"""Ordinary Kubernetes YAML → the processes a local mesh runs.

Objects are read from files and directories (``.yaml``/``.yml``/``.json``,
multi-document, ``kind: List``). Each Deployment replica becomes one local pod:
a process started from the Deployment's command annotation

    metadata.annotations["local.openservicemesh.io/command"]
        (or the same annotation on the pod template, which wins)

split like a shell would (``shlex``); a leading ``python``/``python3`` means the
interpreter running osm, so ``python -m osm_mesh.local.apps.api`` works from any
install. The process gets, as environment:

- the container's ``env`` (``value`` and ``valueFrom.configMapKeyRef``) and
  ``envFrom.configMapRef``, resolved against the ConfigMaps in the manifests;
- ``POD_IP`` (its own loopback address), ``PORT`` (the port to listen on: the
  first ``containerPort``, else 80, unless the runtime moved it, e.g. 80 -> 8080
  for a user who may not bind port 80), ``PORT_<containerPort>`` for each
  container port, ``POD_NAME``, ``POD_NAMESPACE``, ``SERVICE_ACCOUNT``;
- ``HTTP_PROXY``/``http_proxy`` = ``http://<pod_ip>:15001`` (the sidecar's
  outbound listener) and an empty ``NO_PROXY``, so plain HTTP clients (urllib,
  requests, curl) reach ``api.<ns>.svc.cluster.local`` through the mesh.

Pods are also handed to the control plane's file source as ordinary ``Pod``
objects (with ``status.podIP``, and the moved ports in the annotation
``local.openservicemesh.io/app-ports``) so the catalog sees exactly what runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osm_mesh.errors import InvalidInput
from osm_mesh.local.addresses import ENVOY_ADMIN_PORT, ENVOY_INBOUND_PORT, ENVOY_OUTBOUND_PORT

COMMAND_ANNOTATION = "local.openservicemesh.io/command"
PYTHON_NAMES = ("python", "python3")
# The environment the local pods inherit from the runtime; proxies are always ours.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")

Obj = dict[str, Any]
# Each pod's sidecar listens on these ports of the pod's own address.
SIDECAR_PORTS = {
    ENVOY_ADMIN_PORT: "admin",
    ENVOY_OUTBOUND_PORT: "outbound",
    ENVOY_INBOUND_PORT: "inbound",
}
# (pod ip, containerPort, ports the pod already uses) -> the port its app listens on.
ListenPort = Callable[[str, int, Collection[int]], int]


@dataclass(frozen=True)
class LocalPod:
    namespace: str
    name: str  # <deployment>-<hash>-<replica>, stable across runs of the same manifests
    deployment: str
    replica: int
    ip: str
    labels: Mapping[str, str]
    service_account: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    ports: tuple[int, ...]
    proxy_uuid: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    # containerPort -> the port the app listens on instead (only ports that were moved).
    local_ports: Mapping[int, int] = field(default_factory=dict)
    # The containerPorts' names ("" for none), so a Service's named targetPort resolves.
    port_names: tuple[str, ...] = ()
    # Where the app runs: the folder of its manifest (None: the caller's directory).
    cwd: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def container_port(self) -> int:
        """The manifest's port of the app (first containerPort, else 80)."""
        return self.ports[0] if self.ports else 80

    @property
    def app_port(self) -> int:
        """Where the app really listens (``$PORT``)."""
        return self.local_ports.get(self.container_port, self.container_port)

    def pod_object(self) -> Obj:
        """The Pod as a Kubernetes object, for the control plane's catalog."""
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {**self.labels, "osm-proxy-uuid": self.proxy_uuid},
                "annotations": {**self.annotations, **self._local_ports_annotation()},
                # As a Deployment's pods are owned: the catalog then counts this pod as the
                # Deployment's replica instead of synthesizing another one (with no IP).
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": self.name.rsplit("-", 1)[0],
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "serviceAccountName": self.service_account,
                "containers": [{"name": self.deployment, "ports": self._container_ports()}],
            },
            "status": {"phase": "Running", "podIP": self.ip, "podIPs": [{"ip": self.ip}]},
        }

    def _container_ports(self) -> list[Obj]:
        names = self.port_names or ("",) * len(self.ports)
        return [
            {"containerPort": port, "protocol": "TCP", **({"name": name} if name else {})}
            for port, name in zip(self.ports, names, strict=True)
        ]

    def _local_ports_annotation(self) -> dict[str, str]:
        if not self.local_ports:
            return {}
        # Here, not at module level: the catalog package costs ~40 ms to import.
        from osm_mesh.catalog.model import LOCAL_PORTS_ANNOTATION

        moved = {str(port): local for port, local in sorted(self.local_ports.items())}
        return {LOCAL_PORTS_ANNOTATION: json.dumps(moved)}


def namespace_of(obj: Obj, default: str = "default") -> str:
    return str((obj.get("metadata") or {}).get("namespace") or default)


def deployments(objects: Sequence[Obj]) -> list[Obj]:
    return [o for o in objects if o.get("kind") == "Deployment"]


def replica_count(objects: Sequence[Obj]) -> int:
    total = 0
    for deployment in deployments(objects):
        replicas = (deployment.get("spec") or {}).get("replicas", 1)
        total += replicas if isinstance(replicas, int) and replicas > 0 else 0
    return total


def container_ports(objects: Sequence[Obj]) -> set[int]:
    ports: set[int] = set()
    for deployment in deployments(objects):
        for container in _pod_spec(deployment).get("containers") or []:
            for port in container.get("ports") or []:
                if isinstance(port.get("containerPort"), int):
                    ports.add(port["containerPort"])
    return ports or {80}


def plan_pods(
    objects: Sequence[Obj],
    ip_for: Any,
    *,
    environ: Mapping[str, str] | None = None,
    listen_port: ListenPort | None = None,
    folder_of: Callable[[Obj], Path | None] | None = None,
) -> list[LocalPod]:
    """One LocalPod per Deployment replica; ``ip_for(index)`` gives the pod addresses,
    ``listen_port`` the port each app listens on (default: its containerPort),
    ``folder_of(deployment)`` the folder of the manifest that defined it: relative paths in
    its command resolve against it, and its app runs there.

    Problems in every Deployment are collected and reported together, before
    anything is started.
    """
    environ = os.environ if environ is None else environ
    config_maps = {
        (namespace_of(o), o["metadata"]["name"]): {
            str(k): str(v) for k, v in (o.get("data") or {}).items()
        }
        for o in objects
        if o.get("kind") == "ConfigMap"
    }
    problems: list[str] = []
    pods: list[LocalPod] = []
    tcp_services = _tcp_services(objects)
    ordered = sorted(deployments(objects), key=lambda d: (namespace_of(d), d["metadata"]["name"]))
    for deployment in ordered:
        ns, name = namespace_of(deployment), deployment["metadata"]["name"]
        where = f"Deployment {ns}/{name}"
        template = (deployment.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        annotations = {
            **((deployment.get("metadata") or {}).get("annotations") or {}),
            **(template_meta.get("annotations") or {}),
        }
        command = annotations.get(COMMAND_ANNOTATION)
        if not command:
            problems.append(f"{where}: no {COMMAND_ANNOTATION} annotation (what to run locally)")
            continue
        folder = folder_of(deployment) if folder_of else None
        try:
            argv = _argv(command, folder, environ.get("PATH", os.defpath))
        except ValueError as exc:
            problems.append(f"{where}: {COMMAND_ANNOTATION}: {exc}")
            continue
        spec = _pod_spec(deployment)
        containers = spec.get("containers") or []
        if not containers:
            problems.append(f"{where}: the pod template has no containers")
            continue
        # The annotated command stands in for the first (application) container.
        container = containers[0]
        try:
            app_env = _container_env(container, config_maps, ns)
        except InvalidInput as exc:
            problems.append(f"{where}: {exc.message}")
            continue
        declared = [
            p for p in container.get("ports") or [] if isinstance(p.get("containerPort"), int)
        ]
        ports = tuple(p["containerPort"] for p in declared)
        taken = sorted(set(ports or (80,)) & set(SIDECAR_PORTS))
        if taken:
            problems.append(
                f"{where}: containerPort {taken[0]} is the sidecar's "
                f"{SIDECAR_PORTS[taken[0]]} port on the pod's address; apps cannot use "
                + ", ".join(str(p) for p in SIDECAR_PORTS)
            )
            continue
        port_names = tuple(str(p.get("name") or "") for p in declared)
        replicas = (deployment.get("spec") or {}).get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            problems.append(
                f"{where}: spec.replicas must be a whole number of 0 or more, got {replicas!r}"
            )
            continue
        template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[
            :8
        ]
        for replica in range(replicas):
            ip = ip_for(len(pods))
            pod_name = f"{name}-{template_hash}-{replica}"
            env = {k: environ[k] for k in INHERITED_ENV if k in environ}
            env.update(app_env)
            proxy = f"http://{ip}:{ENVOY_OUTBOUND_PORT}"
            app_port = ports[0] if ports else 80
            local_ports = _local_ports(ip, ports or (app_port,), listen_port)
            # TCP Services of the namespace, as Kubernetes announces Services: the sidecar
            # listens for each on this pod's own address at the service port.
            own = set(ports or (app_port,)) | set(local_ports.values()) | set(SIDECAR_PORTS)
            for svc_name, port_name, port in tcp_services.get(ns, ()):
                if port in own:
                    continue
                var = svc_name.upper().replace("-", "_")
                env.setdefault(f"{var}_SERVICE_HOST", ip)
                env.setdefault(f"{var}_SERVICE_PORT", str(port))
                if port_name:
                    env[f"{var}_SERVICE_PORT_{port_name.upper().replace('-', '_')}"] = str(port)
            env.update(
                {f"PORT_{p}": str(local_ports.get(p, p)) for p in ports},
                POD_IP=ip,
                PORT=str(local_ports.get(app_port, app_port)),
                POD_NAME=pod_name,
                POD_NAMESPACE=ns,
                SERVICE_ACCOUNT=spec.get("serviceAccountName") or "default",
                HTTP_PROXY=proxy,
                http_proxy=proxy,
                NO_PROXY="",
                no_proxy="",
                PYTHONUNBUFFERED="1",
            )
            pods.append(
                LocalPod(
                    namespace=ns,
                    name=pod_name,
                    deployment=name,
                    replica=replica,
                    ip=ip,
                    labels=dict(template_meta.get("labels") or {}),
                    service_account=spec.get("serviceAccountName") or "default",
                    argv=argv,
                    env=env,
                    ports=ports,
                    proxy_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"osm-local:{ns}/{pod_name}")),
                    annotations=dict(template_meta.get("annotations") or {}),
                    local_ports=local_ports,
                    port_names=port_names,
                    cwd=folder,
                )
            )
    if problems:
        raise InvalidInput(
            "cannot run the manifests locally: " + "; ".join(problems),
            hint=f'Annotate each Deployment, e.g. {COMMAND_ANNOTATION}: "python -m mypkg.server".',
        )
    return pods


def _tcp_services(objects: Sequence[Obj]) -> dict[str, list[tuple[str, str, int]]]:
    """namespace -> (service, port name, port) of every TCP Service port, first port wins."""
    from osm_mesh.catalog.build import port_protocol

    out: dict[str, list[tuple[str, str, int]]] = {}
    seen: set[int] = set()
    services = sorted(
        (o for o in objects if o.get("kind") == "Service" and o.get("apiVersion") == "v1"),
        key=lambda o: (namespace_of(o), str(o["metadata"]["name"])),
    )
    for svc in services:
        for port in (svc.get("spec") or {}).get("ports") or []:
            number = port.get("port") if isinstance(port, dict) else None
            if not isinstance(number, int) or port_protocol(port) not in ("tcp",):
                continue
            if number in seen:
                continue  # the translation gives a port to the first service (sorted)
            seen.add(number)
            name = str(port.get("name") or "")
            out.setdefault(namespace_of(svc), []).append((svc["metadata"]["name"], name, number))
    return out


def _local_ports(ip: str, ports: Sequence[int], listen_port: ListenPort | None) -> dict[int, int]:
    """containerPort -> local port, for the ports ``listen_port`` moved."""
    moved: dict[int, int] = {}
    if listen_port is None:
        return moved
    for port in ports:
        local = listen_port(ip, port, {*ports, *moved.values()})
        if local != port:
            moved[port] = local
    return moved


def _pod_spec(deployment: Obj) -> Obj:
    return ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}


def _argv(command: str, folder: Path | None, search_path: str) -> tuple[str, ...]:
    """The command's argv: ``python`` is this interpreter; a program path with a ``/`` and a
    ``python`` script are relative to the manifest's folder; the program must be there and
    executable (checked here, so the mistake is named before anything starts)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot parse: {exc}") from None
    if not argv:
        raise ValueError("empty command")
    base = folder or Path.cwd()
    if argv[0] in PYTHON_NAMES:
        argv[0] = sys.executable
        script = argv[1] if len(argv) > 1 else ""
        relative = script and not script.startswith("-") and not Path(script).is_absolute()
        if relative and (base / script).is_file():
            argv[1] = str(base / script)
        return tuple(argv)
    if "/" in argv[0]:
        program = Path(argv[0]) if Path(argv[0]).is_absolute() else base / argv[0]
        if not program.exists():
            raise ValueError(f"{program} does not exist (relative paths start at {base})")
        if program.is_dir() or not os.access(program, os.X_OK):
            raise ValueError(
                f"{program} is not executable: chmod +x it, or start it through its "
                f"interpreter (e.g. sh {argv[0]})"
            )
        argv[0] = str(program)
    elif shutil.which(argv[0], path=search_path) is None:
        raise ValueError(f"{argv[0]!r} is not found on PATH")
    return tuple(argv)


def _container_env(
    container: Obj, config_maps: Mapping[tuple[str, str], Mapping[str, str]], namespace: str
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if not ref:
            continue
        data = config_maps.get((namespace, ref.get("name", "")))
        if data is None:
            if ref.get("optional"):
                continue
            raise InvalidInput(f"envFrom: ConfigMap {namespace}/{ref.get('name')} not found")
        prefix = source.get("prefix") or ""
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name = var.get("name")
        if not name:
            continue
        if "value" in var:
            env[name] = str(var["value"])
            continue
        ref = (var.get("valueFrom") or {}).get("configMapKeyRef")
        if not ref:
            # fieldRef/secretKeyRef have no local meaning; the runtime sets POD_IP etc.
            continue
        data = config_maps.get((namespace, ref.get("name", "")))
        if data is None or ref.get("key") not in data:
            if ref.get("optional"):
                continue
            raise InvalidInput(
                f"env {name}: key {ref.get('key')!r} of ConfigMap "
                f"{namespace}/{ref.get('name')} not found"
            )
        env[name] = data[ref["key"]]
    return env
