"""Run one container of a real Pod as a local process, the way a kubelet would run it.

Upstream's chart pins its images by digest (`openservicemesh/osm-controller@sha256:…`), and no
image can be pulled here; its binaries can be built (`make upstream-osm`). So for a Pod the API
server really holds (made by the chart's Deployment, bound to the fake node, given an IP), this
starts the container's own command and arguments with the locally built binary:

- in a network namespace of the Pod's own with the Pod's IP, joined to the cluster's namespace by
  a veth pair (a pod network as a CNI plugin makes one): the API server's pod proxy (`GET
  pods/<name>:9091/proxy/version`, what `osm version` does) reaches it, and fixed ports (upstream
  binds 9091, 15128, … on every address) never collide with another Pod's;
- chrooted into a throw-away root that holds what the kubelet would mount: the binary at the
  command's path, ``/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`` (a
  TokenRequest token bound to the Pod, for the Pod's own ServiceAccount: the chart's RBAC is what
  the process gets), and any extra files (``mounts``); or, for a Python process that cannot be
  chrooted, a given ``argv`` with a kubeconfig holding that same token;
- with the container's environment, ``fieldRef`` values resolved, and ``KUBERNETES_SERVICE_HOST``
  / ``_PORT`` set to the API server's address in the cluster's namespace (no kube-proxy here).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT_DIR = "var/run/secrets/kubernetes.io/serviceaccount"
POD_NETNS_PREFIX = "osmp-"


class ProcessPodError(RuntimeError):
    pass


@dataclass(frozen=True)
class Cluster:
    """What running a pod needs from the local cluster."""

    kubectl: Callable[..., str]  # kubectl(*args) -> stdout; raises on failure
    netns: str  # the cluster's network namespace
    api_host: str  # the API server's address inside that namespace
    api_port: int
    api_ca: Path  # the cluster CA (for kubeconfigs)


@dataclass
class ProcessPod:
    namespace: str
    name: str
    pod_ip: str
    process: subprocess.Popen
    root: Path
    netns: str  # the Pod's own network namespace
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_kib(self) -> int:
        """Resident memory of the process now (VmRSS), KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ProcessPodError(f"no VmRSS for pid {self.pid}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        delete_pod_network(self.netns)
        shutil.rmtree(self.root, ignore_errors=True)


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise ProcessPodError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def create_pod_network(cluster: Cluster, pod_ip: str) -> str:
    """A network namespace holding ``pod_ip`` on eth0, one end of a veth pair whose other end is
    in the cluster's namespace with a host route to the Pod: the Pod reaches the API server at
    ``cluster.api_host`` (a local address there, so it answers ARP for it), and everything in the
    cluster's namespace reaches the Pod."""
    suffix = secrets.token_hex(4)
    name = POD_NETNS_PREFIX + suffix
    host_end = "vp" + suffix  # interface names are at most 15 characters
    _ip("netns", "add", name)
    try:
        _ip("-n", cluster.netns, "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
            "netns", name)  # fmt: skip
        _ip("-n", cluster.netns, "link", "set", host_end, "up")
        _ip("-n", cluster.netns, "route", "add", f"{pod_ip}/32", "dev", host_end)
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", f"{pod_ip}/32", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        _ip("-n", name, "route", "add", "default", "via", cluster.api_host, "dev", "eth0", "onlink")
        _wait_for_api(name, cluster)
    except BaseException:
        delete_pod_network(name)
        raise
    return name


def _wait_for_api(netns: str, cluster: Cluster, timeout: float = 10) -> None:
    """A fresh veth pair carries traffic only once both ends are up: connect to the API server
    from inside the Pod's namespace before starting anything there."""
    probe = (
        "import socket,sys,time\n"
        "end=time.monotonic()+float(sys.argv[3])\n"
        "while True:\n"
        "    try: socket.create_connection((sys.argv[1],int(sys.argv[2])),1).close(); break\n"
        "    except OSError:\n"
        "        if time.monotonic()>end: sys.exit('the API server is unreachable from the pod')\n"
        "        time.sleep(0.1)\n"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", probe, cluster.api_host,
         str(cluster.api_port), str(timeout)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise ProcessPodError(f"pod network {netns}: {result.stderr.strip()}")


def delete_pod_network(name: str) -> None:
    """Removes the namespace; its veth pair (and the route over it) goes with it."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait_for_pod_ip(cluster: Cluster, namespace: str, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        pod = json.loads(cluster.kubectl("get", "pod", "-n", namespace, name, "-o", "json"))
        if pod.get("status", {}).get("podIP"):
            return pod
        if time.monotonic() > deadline:
            raise ProcessPodError(f"pod {namespace}/{name} got no IP within {timeout:.0f} s")
        time.sleep(0.3)


def pod_named(cluster: Cluster, namespace: str, selector: str, timeout: float = 60) -> str:
    """The name of the one Pod matching ``selector`` (waits for the Deployment to make it)."""
    deadline = time.monotonic() + timeout
    while True:
        out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector,
                              "-o", "jsonpath={.items[*].metadata.name}")  # fmt: skip
        names = out.split()
        if len(names) == 1:
            return names[0]
        if time.monotonic() > deadline:
            raise ProcessPodError(f"expected one pod {selector} in {namespace}, found {names}")
        time.sleep(0.3)


def _environment(cluster: Cluster, pod: dict, container: dict) -> dict[str, str]:
    meta = pod["metadata"]
    fields = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "status.podIP": pod["status"]["podIP"],
    }
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/",
        "KUBERNETES_SERVICE_HOST": cluster.api_host,
        "KUBERNETES_SERVICE_PORT": str(cluster.api_port),
    }
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if ref not in fields:
            raise ProcessPodError(f"env {item['name']}: unsupported source {item.get('valueFrom')}")
        env[item["name"]] = fields[ref]
    return env


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
        return
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


def _service_account_files(cluster: Cluster, pod: dict, into: Path) -> str:
    """Writes token, ca.crt and namespace as the kubelet projects them; returns the token."""
    meta, spec = pod["metadata"], pod["spec"]
    into.mkdir(parents=True)
    token = cluster.kubectl(
        "create", "token", spec.get("serviceAccountName", "default"), "-n", meta["namespace"],
        "--duration=2h", "--bound-object-kind=Pod", f"--bound-object-name={meta['name']}",
    ).strip()  # fmt: skip
    (into / "token").write_text(token)
    (into / "ca.crt").write_text(cluster.api_ca.read_text())
    (into / "namespace").write_text(meta["namespace"])
    return token


def write_token_kubeconfig(cluster: Cluster, path: Path, token: str) -> Path:
    """A kubeconfig for a process inside the cluster's network (JSON is valid YAML)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": f"https://{cluster.api_host}:{cluster.api_port}",
            "certificate-authority": str(cluster.api_ca)}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }  # fmt: skip
    path.write_text(json.dumps(config))
    return path


def run(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    workdir: Path,
    binary: Path | None = None,
    argv: Sequence[str] | None = None,
    container: str | None = None,
    mounts: Mapping[str, Path] | None = None,
) -> ProcessPod:
    """Start container ``container`` (default: the first) of Pod ``namespace/name``.

    With ``binary``: the container's command and args, chrooted, ``binary`` at the command's
    path and ``mounts`` (path inside → host file or folder) beside it. With ``argv``: that
    command line as it is, with ``KUBECONFIG`` (and ``{kubeconfig}`` in ``argv``) naming a
    kubeconfig for the Pod's ServiceAccount token."""
    if (binary is None) == (argv is None):
        raise ValueError("give binary or argv")
    pod = wait_for_pod_ip(cluster, namespace, name)
    containers = pod["spec"]["containers"]
    chosen = next((c for c in containers if c["name"] == container), containers[0])
    root = workdir / f"{namespace}.{name}"
    shutil.rmtree(root, ignore_errors=True)
    token = _service_account_files(cluster, pod, root / SERVICE_ACCOUNT_DIR)
    if binary is not None:
        command = chosen.get("command") or []
        if not command:
            raise ProcessPodError(f"{namespace}/{name}: container {chosen['name']} has no command")
        for folder in ("tmp", "etc"):
            (root / folder).mkdir(exist_ok=True)
        (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/sbin/nologin\n")
        _place(binary, root / command[0].lstrip("/"))
        for inside, source in (mounts or {}).items():
            _place(source, root / inside.lstrip("/"))
        inner = ["chroot", str(root), *command, *(chosen.get("args") or [])]
    else:
        kubeconfig = write_token_kubeconfig(cluster, root / "kubeconfig", token)
        inner = [part.replace("{kubeconfig}", str(kubeconfig)) for part in argv or []]

    pod_ip = pod["status"]["podIP"]
    netns = create_pod_network(cluster, pod_ip)
    log = workdir / f"{namespace}.{name}.log"
    env = _environment(cluster, pod, chosen)
    if binary is None:  # a host program: the caller's PATH and Python, the Pod's token
        env = {**os.environ, **{k: v for k, v in env.items() if k not in ("PATH", "HOME")}}
        env["KUBECONFIG"] = str(root / "kubeconfig")
    # setpriv: the process dies with the test run (the parent-death signal survives the execs).
    command_line = ["setpriv", "--pdeathsig", "KILL", "--", "ip", "netns", "exec", netns, *inner]
    try:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command_line, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
    except BaseException:
        delete_pod_network(netns)
        raise
    return ProcessPod(namespace, name, pod_ip, process, root, netns, log)


def report_exit(cluster: Cluster, pod: ProcessPod, exit_code: int) -> None:
    """Tell the API server the container ended, as a kubelet does: the Pod's phase becomes
    Succeeded or Failed, which is what the Job controller counts."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    phase = "Succeeded" if exit_code == 0 else "Failed"
    reason = "Completed" if exit_code == 0 else "Error"
    container = json.loads(
        cluster.kubectl("get", "pod", "-n", pod.namespace, pod.name, "-o", "json")
    )["spec"]["containers"][0]
    terminated = {"exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now}
    status = {
        "phase": phase,
        "conditions": [{"type": t, "status": "False", "reason": "PodCompleted"}
                       for t in ("Ready", "ContainersReady")],
        "containerStatuses": [{
            "name": container["name"], "image": container["image"], "imageID": "",
            "ready": False, "restartCount": 0, "started": False,
            "state": {"terminated": terminated}}],
    }  # fmt: skip
    cluster.kubectl("patch", "pod", "-n", pod.namespace, pod.name, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": status}))  # fmt: skip


def run_to_completion(
    cluster: Cluster, namespace: str, name: str, *, timeout: float = 60, **options
) -> tuple[int, str]:
    """Run a Job's Pod (see ``run``) until its process exits, report the exit as the kubelet
    would, clean up; returns the exit code and the end of its log."""
    pod = run(cluster, namespace, name, **options)
    try:
        code = pod.process.wait(timeout)
    except subprocess.TimeoutExpired:
        pod.stop()
        raise ProcessPodError(f"{namespace}/{name} did not finish within {timeout:.0f} s") from None
    try:
        report_exit(cluster, pod, code)
        return code, pod.log_tail()
    finally:
        pod.stop()
