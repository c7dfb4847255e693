"""Upstream OSM v1.2.4 installed by its own CLI on the real local cluster, its pods run as local
processes (processpod.py) from the binaries `make upstream-osm` built.

What upstream's `osm install` does and how each part happens here:

1. Helm's pre-install hook, Job `<mesh>-preinstall`: upstream's own `osm-preinstall` binary runs
   as that Job's Pod and its exit code is reported for the Pod, so upstream's single-mesh check
   really decides whether the install goes on.
2. The Deployments' Pods are bound to the fake node, which reports them ready, so the CLI's wait
   ends as on a cluster.
3. `osm-bootstrap` (creates the CRDs from ``/osm-crds`` and the MeshConfig from the preset
   ConfigMap) and `osm-controller` run as processes of their Pods with the chart's arguments
   and ServiceAccounts.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.upstream import binary, offline_env, processpod, source_dir


@dataclass
class UpstreamMesh:
    namespace: str
    mesh_name: str
    pods: list[processpod.ProcessPod] = field(default_factory=list)

    def controller(self) -> processpod.ProcessPod:
        return next(p for p in self.pods if p.name.startswith("osm-controller-"))

    def stop(self) -> None:
        for pod in reversed(self.pods):
            pod.stop()
        self.pods.clear()


class UpstreamError(RuntimeError):
    pass


def osm(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Upstream's `osm` with ``env`` (KUBECONFIG, HOME), cut off from the internet."""
    return subprocess.run(
        [str(binary("osm")), *args],
        env=offline_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_with_hook_job(
    cluster: processpod.Cluster,
    argv: list[str],
    env: dict[str, str],
    namespace: str,
    job: str,
    run_job: Callable[[str], tuple[int, str]],
    timeout: float = 180,
) -> tuple[subprocess.CompletedProcess, tuple[int, str] | None]:
    """Run a CLI (``argv``) whose Helm hook creates Job ``job`` in ``namespace``; once the Job's
    Pod is bound, ``run_job(pod_name)`` plays its container. Returns the CLI's result and the
    Job's exit code and log tail (None when the CLI ended before the Job's Pod existed)."""
    cli = subprocess.Popen(
        argv, env=offline_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    result = None
    try:
        job_pod = _wait_for_job_pod(cluster, cli, namespace, job, timeout)
        if job_pod:
            result = run_job(job_pod)
        stdout, stderr = cli.communicate(timeout=timeout + 30)
    except BaseException:
        cli.kill()
        cli.communicate()
        raise
    return subprocess.CompletedProcess(argv, cli.returncode, stdout, stderr), result


def install(
    cluster: processpod.Cluster,
    env: dict[str, str],
    namespace: str,
    mesh_name: str,
    *args: str,
    workdir: Path,
    timeout: float = 180,
) -> tuple[subprocess.CompletedProcess, tuple[int, str] | None]:
    """Upstream's `osm install`; its pre-install Job's Pod is run with upstream's
    `osm-preinstall`, whose exit code decides whether the install goes on."""
    argv = [str(binary("osm")), "install", "--osm-namespace", namespace, "--mesh-name", mesh_name]
    argv += ["--timeout", f"{int(timeout)}s", *args]

    def preinstall(pod: str) -> tuple[int, str]:
        return processpod.run_to_completion(
            cluster, namespace, pod, workdir=workdir, binary=binary("osm-preinstall")
        )

    return run_with_hook_job(
        cluster, argv, env, namespace, f"{mesh_name}-preinstall", preinstall, timeout
    )


def uninstall(
    cluster: processpod.Cluster,
    argv: list[str],
    env: dict[str, str],
    namespace: str,
    mesh_name: str,
    *,
    workdir: Path,
    kubectl_dir: Path,
    timeout: float = 120,
) -> tuple[subprocess.CompletedProcess, tuple[int, str] | None]:
    """An uninstall of an upstream-installed mesh by the CLI ``argv`` (upstream's or ours):
    Helm's post-delete hook, Job `<mesh>-cleanup` (a shell script of kubectl calls in upstream's
    osm-crds image), runs with the host's `sh` and ``kubectl_dir``'s kubectl under the Job's own
    ServiceAccount, ``/osm-crds`` pointing at upstream's CRDs."""

    def cleanup(pod_name: str) -> tuple[int, str]:
        pod = json.loads(cluster.kubectl("get", "pod", "-n", namespace, pod_name, "-o", "json"))
        container = pod["spec"]["containers"][0]
        command = [*container.get("command", []), *container.get("args", [])]
        crds = str(source_dir() / "cmd" / "osm-bootstrap" / "crds")
        command = [part.replace("/osm-crds", crds) for part in command]
        path = f"PATH={kubectl_dir}:/usr/sbin:/usr/bin:/sbin:/bin"
        return processpod.run_to_completion(
            cluster, namespace, pod_name, workdir=workdir, argv=["env", path, *command]
        )

    return run_with_hook_job(
        cluster, argv, env, namespace, f"{mesh_name}-cleanup", cleanup, timeout
    )


def start_control_plane(
    cluster: processpod.Cluster, namespace: str, mesh_name: str, *, workdir: Path
) -> UpstreamMesh:
    """Run the installed mesh's osm-bootstrap and osm-controller Pods; returns when the
    controller answers /health/ready through the API server's pod proxy."""
    mesh = UpstreamMesh(namespace, mesh_name)
    try:
        mesh.pods.append(start_bootstrap(cluster, namespace, workdir=workdir))
        mesh.pods.append(start_controller(cluster, namespace, workdir=workdir))
    except BaseException:
        mesh.stop()
        raise
    return mesh


def start_bootstrap(
    cluster: processpod.Cluster, namespace: str, *, workdir: Path
) -> processpod.ProcessPod:
    """Upstream's osm-bootstrap Pod as a process; returns once it made the MeshConfig (and,
    before it, the CRDs)."""
    name = processpod.pod_named(cluster, namespace, "app=osm-bootstrap")
    crds = source_dir() / "cmd" / "osm-bootstrap" / "crds"
    pod = processpod.run(
        cluster, namespace, name, workdir=workdir, binary=binary("osm-bootstrap"),
        mounts={"/osm-crds": crds},
    )  # fmt: skip
    try:
        _wait(
            lambda: _exists(cluster, "meshconfig", "osm-mesh-config", namespace),
            f"upstream's bootstrap made no MeshConfig in {namespace}",
            pod,
        )
    except BaseException:
        pod.stop()
        raise
    return pod


def start_controller(
    cluster: processpod.Cluster, namespace: str, *, workdir: Path
) -> processpod.ProcessPod:
    """Upstream's osm-controller Pod as a process; returns once it is ready."""
    name = processpod.pod_named(cluster, namespace, "app=osm-controller")
    pod = processpod.run(cluster, namespace, name, workdir=workdir, binary=binary("osm-controller"))
    try:
        wait_ready(cluster, pod)
    except BaseException:
        pod.stop()
        raise
    return pod


def wait_ready(cluster: processpod.Cluster, pod: processpod.ProcessPod) -> None:
    """Until the controller process answers ``GET :9091/health/ready`` through the API
    server's pod proxy (the path `osm version` takes too)."""
    path = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}:9091/proxy/health/ready"
    _wait(lambda: _get_raw(cluster, path), f"{pod.name} is not ready", pod)


def _exists(cluster: processpod.Cluster, kind: str, name: str, namespace: str) -> bool:
    try:
        cluster.kubectl("get", kind, name, "-n", namespace, "-o", "name")
    except Exception:
        return False
    return True


def _get_raw(cluster: processpod.Cluster, path: str) -> bool:
    try:
        cluster.kubectl("get", "--raw", path)
    except Exception:
        return False
    return True


def _wait(check, what: str, pod: processpod.ProcessPod, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if not pod.alive():
            raise UpstreamError(f"{what}: {pod.name} exited\n{pod.log_tail()}")
        if time.monotonic() > deadline:
            raise UpstreamError(f"{what} within {timeout:.0f} s\n{pod.log_tail()}")
        time.sleep(0.5)


def _wait_for_job_pod(
    cluster: processpod.Cluster, cli: subprocess.Popen, namespace: str, job: str, timeout: float
) -> str | None:
    """The name of Job ``job``'s Pod once it has an IP (bound and "started" by the fake node);
    None if the CLI ends first."""
    deadline = time.monotonic() + timeout
    while cli.poll() is None and time.monotonic() < deadline:
        try:
            names = cluster.kubectl(
                "get", "pods", "-n", namespace, "-l", f"job-name={job}",
                "-o", "jsonpath={.items[*].metadata.name}",
            ).split()  # fmt: skip
        except Exception:  # the namespace may not exist yet
            names = []
        for name in names:
            pod = json.loads(cluster.kubectl("get", "pod", "-n", namespace, name, "-o", "json"))
            if pod.get("status", {}).get("podIP"):
                return name
        time.sleep(0.3)
    return None
