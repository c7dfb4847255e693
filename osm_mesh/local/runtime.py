"""The local mesh: a control plane, one process and one real Envoy per pod, on loopback.

    with LocalMesh([manifest_dir]) as mesh:      # start(): everything up and configured
        mesh.apply(load_objects([smi_dir]))      # live policy change (lint-checked), waits for ACKs
        mesh.pod("osm-simple-app", "frontend")   # RunningPod: ip, app child, envoy admin

What ``start()`` does, in order (any failure stops whatever already runs):
1. read the manifests; plan one pod per Deployment replica (``workloads``);
2. claim a free ``127.X.Y.0/24`` (``addresses``) and give each pod its address; an app
   whose containerPort cannot be bound (below 1024 without root, or taken) gets a free
   unprivileged port instead (``$PORT``; the control plane's inbound cluster follows);
3. create a CA, start the control plane (ADS with mTLS on ``127.X.Y.254:15128``)
   over a ``FileSource`` holding the manifests plus the planned Pods;
4. start every app (``$POD_IP:$PORT``) and its Envoy sidecar (admin
   ``<pod_ip>:15000``, outbound HTTP proxy ``:15001``, inbound mTLS ``:15003``);
5. wait until apps listen, Envoys are ready and every proxy ACKed its config.

Supervision is fail-fast (see ``supervisor``); ``stop()`` (also on Ctrl-C or an
exception in the ``with`` block) stops apps, Envoys, then the control plane.
``work_dir`` keeps ``logs/<pod>.log``, ``logs/<pod>.envoy.log``, the Envoy bootstraps
(``envoy/``, owner-only: they hold the sidecars' ADS client keys) and ``state.json``
(pids and addresses, for tools and tests). A
temporary ``work_dir`` is deleted on a clean stop and kept after a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osm_mesh.catalog.loader import Document
from osm_mesh.errors import MeshError, Timeout, is_interruption
from osm_mesh.local.addresses import (
    ADS_PORT,
    ENVOY_ADMIN_PORT,
    ENVOY_INBOUND_PORT,
    ENVOY_OUTBOUND_PORT,
    AddressBlock,
    app_listen_port,
    check_prefix,
    claim_block,
)
from osm_mesh.local.debug import debug_url, start_debug_server
from osm_mesh.local.inputs import (
    TrafficPolicy,
    check_documents,
    load_documents,
    traffic_policy,
)
from osm_mesh.local.registry import register, unregister
from osm_mesh.local.sidecar import SidecarEnvoy
from osm_mesh.local.supervisor import Child, Supervisor
from osm_mesh.local.workloads import LocalPod, deployments, plan_pods, replica_count

Obj = dict[str, Any]
Progress = Callable[[str], None]
# An app that has not listened on $POD_IP:$PORT by then is reported as failed.
APP_LISTEN_TIMEOUT_S = 10.0
WAIT_NOTE_AFTER_S = 2.0
WAIT_NOTE_EVERY_S = 3.0


@dataclass
class RunningPod:
    pod: LocalPod
    app: Child
    envoy: SidecarEnvoy

    @property
    def ip(self) -> str:
        return self.pod.ip

    @property
    def url(self) -> str:
        """Where the app itself listens (what `kubectl port-forward` would reach); the port
        is the moved one when the containerPort could not be bound."""
        return f"http://{self.pod.ip}:{self.pod.app_port}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.pod.namespace,
            "name": self.pod.name,
            "deployment": self.pod.deployment,
            "serviceAccount": self.pod.service_account,
            "ip": self.pod.ip,
            "appPort": self.pod.app_port,
            "containerPort": self.pod.container_port,
            "url": self.url,
            "envoyAdmin": f"http://{self.pod.ip}:{ENVOY_ADMIN_PORT}",
            "appPid": self.app.pid,
            "envoyPid": self.envoy.pid,
            "appLog": str(self.app.log_path),
            "envoyLog": str(self.envoy.log_path),
        }


class LocalMesh:
    def __init__(
        self,
        paths: Sequence[str | Path] = (),
        objects: Iterable[Obj] = (),
        *,
        work_dir: str | Path | None = None,
        prefix: str | None = None,
        envoy_log_level: str = "warning",
        progress: Progress | None = None,
        on_wait: Progress | None = None,
        app_timeout: float = APP_LISTEN_TIMEOUT_S,
    ) -> None:
        if prefix is not None:
            check_prefix(prefix)
        self.documents: list[Document] = load_documents(paths) + [Document(o) for o in objects]
        # Bad manifests fail here, before any directory, address or process is taken: lint's
        # checks (errors refuse the start; warnings are kept for the caller to print).
        self.findings = check_documents(self.documents).findings
        # Relative paths in a command are relative to the folder of its manifest.
        folders = {f: Path(f).resolve().parent for f in {d.file for d in self.documents if d.file}}
        self._folders = {id(d.obj): folders[d.file] for d in self.documents if d.file}
        if not plan_pods(self.objects, lambda _index: "0.0.0.0", folder_of=self._folder_of):
            if deployments(self.objects):
                raise MeshError(
                    "every Deployment has spec.replicas: 0: nothing to run",
                    hint="Give at least one Deployment a replica.",
                )
            raise MeshError(
                "the manifests hold no Deployment: nothing to run",
                hint="Pass the directory with your Deployments, Services and SMI policies.",
            )
        self._temporary = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="osm-local-"))
        self.log_dir = self.work_dir / "logs"
        self.prefix = prefix
        self.envoy_log_level = envoy_log_level
        self.progress = progress or (lambda _msg: None)
        # Said while start() waits on something slow (an app that does not listen yet).
        self.on_wait = on_wait or self.progress
        self.app_timeout = app_timeout
        self.block: AddressBlock | None = None
        self.supervisor: Supervisor | None = None
        self.control_plane: Any = None
        self.source: Any = None
        self.pods: list[RunningPod] = []
        self.debug: Any = None
        self._registered: dict[str, Any] | None = None
        self._failed = False
        self._lock_fd: int | None = None

    def _folder_of(self, obj: Obj) -> Path | None:
        return self._folders.get(id(obj))

    @property
    def objects(self) -> list[Obj]:
        return [d.obj for d in self.documents]

    @property
    def traffic_policy(self) -> TrafficPolicy:
        """Permissive or SMI, and which MeshConfig (or the chart default) decided it."""
        if self.source is not None:
            config = self.source.snapshot().mesh_config
        else:
            # Before start: only the MeshConfig documents (a whole catalog of a big manifest
            # would cost a second or two).
            from osm_mesh.catalog.build import build_catalog

            configs = [d for d in self.documents if d.obj.get("kind") == "MeshConfig"]
            config = build_catalog(configs, monitored="all").mesh_config
        return traffic_policy(config, self.documents)

    def tcp_unreachable(self) -> list[str]:
        """TCP Service ports the apps cannot reach: each is served on the caller's own
        address at the service port, so a port of a sidecar, of an app, or of an earlier
        (sorted) TCP Service leaves no room for it."""
        from osm_mesh.catalog.build import port_protocol
        from osm_mesh.local.workloads import SIDECAR_PORTS, container_ports, namespace_of

        app_ports = container_ports(self.objects)
        first: dict[int, str] = {}
        out = []
        services = sorted(
            (o for o in self.objects if o.get("kind") == "Service" and o.get("apiVersion") == "v1"),
            key=lambda o: (namespace_of(o), str(o["metadata"]["name"])),
        )
        for svc in services:
            key = f"{namespace_of(svc)}/{svc['metadata']['name']}"
            for port in (svc.get("spec") or {}).get("ports") or []:
                number = port.get("port") if isinstance(port, dict) else None
                if not isinstance(number, int) or port_protocol(port) != "tcp":
                    continue
                if number in SIDECAR_PORTS:
                    out.append(f"{key}:{number} (a sidecar port)")
                elif number in first:
                    out.append(f"{key}:{number} (taken by {first[number]})")
                else:
                    first[number] = key
                    if number in app_ports:
                        out.append(f"{key}:{number} (from apps that listen on {number} themselves)")
        return out

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> LocalMesh:
        try:
            self._start(time.monotonic() + timeout)
        except BaseException as exc:
            # A failure keeps a temporary work directory (its logs explain it); an interruption
            # (Ctrl-C, SIGTERM...) removes it: it holds the sidecars' private keys.
            self._failed = not is_interruption(exc)
            self.stop()
            raise
        return self

    def _start(self, deadline: float) -> None:
        from osm_mesh.catalog.source import FileSource
        from osm_mesh.certs.ca import CertificateAuthority
        from osm_mesh.controlplane import ControlPlane, ControlPlaneOptions
        from osm_mesh.envoy.translate import TranslateOptions

        # Only the sidecars' ports decide the block: an app that cannot have its containerPort
        # (no privileges for port 80, or another program holds it) is moved, not refused.
        self._lock_work_dir()
        self.block = claim_block(replica_count(self.objects), prefix=self.prefix)
        reasons: set[str] = set()

        def listen_port(ip: str, port: int, avoid: Collection[int]) -> int:
            local, reason = app_listen_port(ip, port, avoid)
            if reason is not None:
                reasons.add(reason)
            return local

        planned = plan_pods(
            self.objects, self.block.pod_ip, listen_port=listen_port, folder_of=self._folder_of
        )
        self.progress(f"addresses {self.block.cidr}, {len(planned)} pods")
        if reasons:
            moved = [
                f"{p.name} {port}->{local}"
                for p in planned
                for port, local in p.local_ports.items()
            ]
            self.progress(
                f"apps moved off ports they cannot bind ({'; '.join(sorted(reasons))}): "
                + ", ".join(moved)
            )
        self.supervisor = Supervisor(self.log_dir)
        # Every namespace in the manifests is part of the mesh: that is why they were passed.
        self.source = FileSource(objects=self._catalog_objects(planned), monitored="all")
        options = ControlPlaneOptions(
            # No iptables: listeners bind each pod's own address; apps use :15001 as a proxy.
            translate=TranslateOptions(
                mode="local", outbound_port=ENVOY_OUTBOUND_PORT, inbound_port=ENVOY_INBOUND_PORT
            ),
            host=self.block.control_plane_ip,
            port=ADS_PORT,
        )
        self.control_plane = ControlPlane(self.source, CertificateAuthority.create(), options)
        self.control_plane.start()
        self.debug = start_debug_server(
            self.control_plane, self.source, self.block.control_plane_ip
        )
        self.progress(f"control plane on {self.block.control_plane_ip}:{ADS_PORT}")
        catalog = self.source.snapshot()
        for pod in planned:
            catalog_pod = catalog.pod_by_uuid(pod.proxy_uuid)
            if catalog_pod is None:  # pragma: no cover - the source dropped a planned pod
                raise MeshError(f"the control plane's catalog has no pod {pod.key}")
            config = self.control_plane.bootstrap_for(
                catalog_pod, admin_host=pod.ip, admin_port=ENVOY_ADMIN_PORT
            )
            # Histograms (latency) reach the admin /stats only when stats are flushed (every
            # 5 s by default): flush on each admin read instead, so the live view is current.
            config["stats_flush_on_admin"] = True
            app = self.supervisor.start(pod.name, pod.argv, env=pod.env, cwd=pod.cwd)
            envoy = SidecarEnvoy(
                config,
                self.work_dir / "envoy",
                self.supervisor,
                name=f"{pod.name}.envoy",
                log_level=self.envoy_log_level,
            )
            envoy.start(timeout=max(1.0, deadline - time.monotonic()))
            self.pods.append(RunningPod(pod, app, envoy))
        for running in self.pods:
            self._wait_app(running, deadline)
            self._wait_envoy(running, deadline)
        self.wait_converged(max(1.0, deadline - time.monotonic()))
        self.write_state()
        self.progress("all pods ready")

    def _lock_work_dir(self) -> None:
        """One mesh per work directory: a second one would mix logs and overwrite the
        first one's bootstraps and state.json. The kernel drops the lock when the process
        dies, even on SIGKILL: no stale lock to clean up."""
        import fcntl

        self.work_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.work_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise MeshError(
                f"the work directory {self.work_dir} is in use by another local mesh "
                f"(pid {holder})",
                hint="Stop that one first, or give this one another --work-dir.",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _catalog_objects(self, planned: list[LocalPod]) -> list[Obj]:
        return [*self.objects, *(p.pod_object() for p in planned)]

    def _wait_app(self, running: RunningPod, deadline: float) -> None:
        assert self.supervisor is not None
        started = time.monotonic()
        deadline = min(deadline, started + self.app_timeout)
        where = f"{running.ip}:{running.pod.app_port}"
        next_note = started + WAIT_NOTE_AFTER_S
        while True:
            self.supervisor.check()
            try:
                socket.create_connection((running.ip, running.pod.app_port), timeout=0.5).close()
                return
            except OSError:
                pass
            now = time.monotonic()
            if now > deadline:
                tail = running.app.log_tail(5)
                raise Timeout(
                    f"{running.pod.key} did not listen on {where} within {now - started:.0f}s",
                    hint=f"Apps must listen on $POD_IP:$PORT. Its log: {running.app.log_path}"
                    + (f"\n--- last lines ---\n{tail}" if tail else " (empty)"),
                )
            if now >= next_note:
                self.on_wait(
                    f"waiting for {running.pod.key} to listen on {where} "
                    f"({now - started:.0f}s of {deadline - started:.0f}s; its log: "
                    f"{running.app.log_path})"
                )
                next_note = now + WAIT_NOTE_EVERY_S
            time.sleep(0.02)

    def _wait_envoy(self, running: RunningPod, deadline: float) -> None:
        assert self.supervisor is not None
        while not running.envoy.is_ready():
            self.supervisor.check()
            if time.monotonic() > deadline:
                raise Timeout(
                    f"the sidecar of {running.pod.key} is not ready",
                    hint=f"Its log: {running.envoy.log_path}",
                )
            time.sleep(0.02)

    def wait_converged(self, timeout: float = 10.0, generation: int | None = None) -> None:
        """Block until every sidecar is connected and ACKed the control plane's configuration
        (``generation``, default the current one); raise Timeout naming any NACK."""
        cp = self.control_plane
        deadline = time.monotonic() + timeout
        while True:
            if self.supervisor is not None:
                self.supervisor.check()
            if len(cp.connected()) >= len(self.pods) and cp.wait_converged(generation, 0.1):
                return
            if time.monotonic() > deadline:
                nacks = [
                    f"{node.split('.', 1)[0]}: {status.nacks[-1].message}"
                    for node, status in cp.statuses().items()
                    if status.nacks
                ]
                raise Timeout(
                    f"the sidecars did not accept the configuration within {timeout:.0f}s"
                    + (f" (rejected: {'; '.join(nacks)})" if nacks else ""),
                    hint=f"Envoy logs are in {self.log_dir}",
                )

    def apply(self, objects: Iterable[Obj], timeout: float = 10.0) -> None:
        """Create or replace objects (SMI policies, Services, MeshConfig) like ``kubectl apply``.

        Deployments cannot be added or changed while running: processes are planned at start.
        """
        objects = list(objects)
        if any(o.get("kind") == "Deployment" for o in objects):
            raise MeshError(
                "a running local mesh cannot add or change Deployments",
                hint="Stop it and start again with the new manifests.",
            )
        # The same checks as at start: an applied mistake is refused, the mesh keeps running
        # with what it had (a MeshConfig typo must not switch it to permissive mode).
        from osm_mesh.catalog.source import object_key

        replaced = {object_key(o) for o in objects}
        kept = [d for d in self.documents if object_key(d.obj) not in replaced]
        documents = [*kept, *(Document(o) for o in objects)]
        self.findings = check_documents(documents).findings
        self.documents = documents
        self.source.apply(objects)
        # Regenerate here rather than wait for the control plane's own worker: the returned
        # generation is known to include this change, so waiting for it cannot pass early.
        self.wait_converged(timeout, self.control_plane.regenerate())

    def check(self) -> None:
        """Raise if any process of the mesh has exited (fail fast)."""
        if self.supervisor is not None:
            self.supervisor.check()

    def pod(self, namespace: str, deployment: str, replica: int = 0) -> RunningPod:
        for running in self.pods:
            p = running.pod
            if (p.namespace, p.deployment, p.replica) == (namespace, deployment, replica):
                return running
        raise MeshError(f"no pod of Deployment {namespace}/{deployment} in this local mesh")

    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "addresses": self.block.cidr if self.block else None,
            "controlPlane": f"{self.block.control_plane_ip}:{ADS_PORT}" if self.block else None,
            "trafficPolicy": self.traffic_policy.as_dict(),
            "workDir": str(self.work_dir),
            "logDir": str(self.log_dir),
            "debug": debug_url(self.debug),
            "pods": [p.as_dict() for p in self.pods],
        }

    def write_state(self) -> Path:
        path = self.work_dir / "state.json"
        state = self.state()
        # Announce it, so `osm stat --local` and `osm proxy status --local` find it; state.json
        # stays the last thing written (tools wait for it).
        register(state)
        self._registered = state
        path.write_text(json.dumps(state, indent=2))
        return path

    def stop(self, failed: bool = False) -> None:
        """Stop apps and sidecars, then the control plane; release the addresses.

        ``failed`` keeps a temporary work directory (logs) for the error message to point at.
        """
        self._failed = self._failed or failed
        if self._registered is not None:
            unregister(self._registered)
            self._registered = None
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.debug is not None:
            self.debug.stop()
            self.debug = None
        if self.control_plane is not None:
            try:
                self.control_plane.stop()
            finally:
                self.control_plane = None
        if self.block is not None:
            self.block.release()
            self.block = None
        if self._temporary and not (self._failed and self.log_dir.exists()):
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> LocalMesh:
        return self.start()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None and not is_interruption(exc):
            self._failed = True
        self.stop()
