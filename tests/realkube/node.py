"""A real node for the local cluster: containerd + runc, CNI bridge + host-local, the kubelet,
kube-proxy (iptables) and CoreDNS as pods — what `make cluster-up NODE=1` adds.

The node lives in the cluster's network namespace (its address is the cluster's node address)
and in a mount + PID namespace of its own, held by a small init process: every mount the node
makes (overlay snapshots, volumes, pod network namespaces) stays in there, and killing that init
kills every shim and container with it, so a stopped cluster leaves no process behind. The
sandbox's three settings from ../shared/facts/real-kubernetes.md apply: cgroups v1 through
`cgroupfs` with `failCgroupV1: false`, `protectKernelDefaults: false`, and containerd's
`restrict_oom_score_adj` (there is no CAP_SYS_RESOURCE here).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.realkube import binaries, probe
from tests.realkube.controlplane import Component
from tests.realkube.layout import (
    CLUSTER_DOMAIN,
    DNS_SERVICE_IP,
    NODE_IP,
    NODE_NAME,
    NODE_POD_CIDR,
    POD_CIDR,
    Layout,
)

CNI_BIN = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
IMAGES_DIR = binaries.REPO / ".images"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"

# PID 1 of the node's PID namespace: reaps orphans (containerd's shims are reparented to it).
REAPER = (
    "import os, time\n"
    "while True:\n"
    "    try:\n"
    "        os.wait()\n"
    "    except ChildProcessError:\n"
    "        time.sleep(1)\n"
)


class NodeFiles:
    """The node's folders; sockets go under /run/<netns> (unix socket paths are short)."""

    def __init__(self, layout: Layout, netns_name: str) -> None:
        self.root = layout.root / "node"
        self.run = Path("/run") / netns_name
        self.containerd_config = self.root / "containerd.toml"
        self.containerd_socket = self.run / "containerd.sock"
        self.cni_conf = self.root / "cni" / "net.d"
        self.kubelet_config = self.root / "kubelet.yaml"
        self.kubelet_root = self.root / "kubelet"
        self.kube_proxy_config = self.root / "kube-proxy.yaml"
        self.cgroup_root = "/" + netns_name

    def remove_runtime_dirs(self) -> None:
        shutil.rmtree(self.run, ignore_errors=True)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def create_cgroup_root(files: NodeFiles) -> None:
    """The kubelet's cgroupRoot must exist in every v1 hierarchy; one per cluster, so two nodes
    side by side never share /kubepods. cpuset needs its CPUs and memory nodes copied from the
    parent before anything can join it."""
    for hierarchy in sorted(Path("/sys/fs/cgroup").iterdir()):
        if hierarchy.name == "unified" or not hierarchy.is_dir():
            continue
        folder = hierarchy / files.cgroup_root.lstrip("/")
        folder.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (folder / knob).write_text((hierarchy / knob).read_text())


def prepare(layout: Layout, files: NodeFiles) -> None:
    """containerd, CNI, kubelet and kube-proxy configuration files; the cgroup root."""
    files.run.mkdir(parents=True, exist_ok=True)
    create_cgroup_root(files)
    seed_containerd_root(files)
    _write(
        files.containerd_config,
        f"""version = 2
root = "{files.root / "containerd"}"
state = "{files.run / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{files.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{files.root / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE the pause container's oom_score_adj (-998) would be refused.
  restrict_oom_score_adj = true
  # Pod network namespaces under the node's state folder, not /run/netns: their files would
  # outlive the node there (the bind mounts live in the node's mount namespace only).
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{files.cni_conf}"
""",
    )
    conflist = {
        "cniVersion": "1.0.0",
        "name": "osm-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": NODE_POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(files.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    _write(files.cni_conf / "10-osm-pods.conflist", json.dumps(conflist, indent=2))
    resolv = files.root / "resolv.conf"
    # Pods with dnsPolicy Default (CoreDNS itself) get no upstream: nothing outside the
    # cluster may be resolved or reached from here.
    _write(resolv, "# no upstream DNS in the local cluster\n")
    pki = layout.pki
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "cgroupRoot": files.cgroup_root,
        "protectKernelDefaults": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{files.containerd_socket}",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": str(resolv),
        "podCIDR": NODE_POD_CIDR,
        "hairpinMode": "hairpin-veth",
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "oomScoreAdj": 0,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
    }
    _write(files.kubelet_config, json.dumps(kubelet, indent=2))
    proxy = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.component_kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "oomScoreAdj": 0,
        # 0 leaves the kernel's conntrack settings alone (they are global to the VM).
        "conntrack": {"maxPerCore": 0, "min": 0},
    }
    _write(files.kube_proxy_config, json.dumps(proxy, indent=2))


def holder() -> Component:
    """The node's init: new mount and PID namespaces, mounts made rshared inside only (the
    host's / is private, so nothing propagates back to it)."""
    script = f"mount --make-rshared / && exec {sys.executable} -c '{REAPER}'"
    return Component(
        "node",
        # --kill-child: when unshare dies (stopped, or killed with the supervisor), its child —
        # PID 1 of the node — is SIGKILLed, and the kernel kills every process of the node's
        # PID namespace with it: containerd's shims and every container.
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
        ],
    )


def containerd(files: NodeFiles) -> Component:
    return Component(
        "containerd",
        ["containerd", "--config", str(files.containerd_config), "--log-level", "warn"],
        in_node=True,
    )


def kubelet(layout: Layout, files: NodeFiles) -> Component:
    return Component(
        "kubelet",
        [
            str(binaries.binary("kubelet")),
            f"--config={files.kubelet_config}",
            f"--kubeconfig={layout.component_kubeconfig('kubelet')}",
            f"--root-dir={files.kubelet_root}",
            f"--cert-dir={files.root / 'kubelet-pki'}",
            f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}",
            "--v=1",
        ],
        in_node=True,
    )


def kube_proxy(files: NodeFiles) -> Component:
    return Component(
        "kube-proxy",
        [str(binaries.binary("kube-proxy")), f"--config={files.kube_proxy_config}", "--v=1"],
    )


# -- start-up steps and readiness (run by the supervisor) -----------------------------------


def _holder_ready(sup) -> bool:
    pid = sup.running["node"].process.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return any(b"os.wait" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children)
    except OSError:
        return False


def _ctr(files: NodeFiles, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ctr", "--address", str(files.containerd_socket), "--namespace", "k8s.io", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _containerd_ready(sup) -> bool:
    files = sup.node_files
    return files.containerd_socket.exists() and _ctr(files, "version", timeout=5).returncode == 0


def _node_ready(sup) -> bool:
    status, body = sup.api_get(f"/api/v1/nodes/{NODE_NAME}")
    if status != 200:
        return False
    conditions = probe.json_body(body).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _kube_proxy_ready(sup) -> bool:
    return probe.get("127.0.0.1", 10256, "/healthz", factory=sup.sockets.socket)[0] == 200


READINESS = {
    "node": _holder_ready,
    "containerd": _containerd_ready,
    "kubelet": _node_ready,
    "kube-proxy": _kube_proxy_ready,
}


def images_dir() -> Path:
    return Path(os.environ.get("OSM_IMAGES_DIR") or IMAGES_DIR)


def _images_manifest() -> tuple[Path, dict]:
    folder = images_dir()
    manifest = folder / "manifest.json"
    if not manifest.exists():
        raise RuntimeError(f"{manifest} is missing: run `make images` first")
    return folder, json.loads(manifest.read_text())["images"]


def _template_root() -> Path:
    """A containerd root with every image imported and unpacked, keyed by the images' digests:
    importing takes ~40 s on 2 cores, hard-linking a ready root ~1 s."""
    folder, images = _images_manifest()
    digests = "".join(sorted(str(i.get("digest")) + str(i.get("ref")) for i in images.values()))
    key = hashlib.sha256(digests.encode()).hexdigest()[:16]
    return folder / f"containerd-root-{key}"


def build_image_template(template: Path) -> None:
    """Import every image into ``template`` with a one-shot containerd in a private mount
    namespace (unpacking mounts overlays), then stop it: the content store and the unpacked
    snapshots are immutable, so running clusters can share them by hard links."""
    folder, images = _images_manifest()
    work = template.with_name(template.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    socket = Path("/run") / f"osmk-images-{os.getpid()}.sock"
    config = work / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'version = 2\nroot = "{work / "root"}"\nstate = "{work / "state"}"\n'
        f'[grpc]\n  address = "{socket}"\n'
    )
    daemon = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "containerd",
            "--config",
            str(config),
            "--log-level",
            "warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctr = ["ctr", "--address", str(socket), "--namespace", "k8s.io"]
    try:
        if not probe.wait_until(
            lambda: (
                socket.exists()
                and subprocess.run([*ctr, "version"], capture_output=True).returncode == 0
            ),
            timeout=30,
        ):
            raise RuntimeError("the containerd that imports the images did not start")
        for name, image in sorted(images.items()):
            result = subprocess.run(
                [*ctr, "images", "import", str(folder / image["archive"])],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0:
                raise RuntimeError(f"importing image {name}: {result.stderr.strip()}")
    finally:
        daemon.terminate()
        daemon.wait(30)
        # containerd also listens on <address>.ttrpc (for its shims) and leaves both.
        socket.unlink(missing_ok=True)
        socket.with_name(socket.name + ".ttrpc").unlink(missing_ok=True)
    shutil.rmtree(work / "state", ignore_errors=True)
    config.unlink()
    work.rename(template)


def seed_containerd_root(files: NodeFiles) -> None:
    """The node's containerd root: hard links to the image template, private copies of the
    databases containerd writes (bolt files are rewritten in place)."""
    template = _template_root()
    if not template.is_dir():
        build_image_template(template)
    root = files.root / "containerd"
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(template / "root"), str(root)], check=True)
    for db in root.rglob("*.db"):
        data = db.read_bytes()
        db.unlink()
        db.write_bytes(data)


def deploy_coredns(sup) -> None:
    manifest = (Path(__file__).parent / "coredns.yaml").read_text()
    manifest = manifest.replace("${DNS_SERVICE_IP}", DNS_SERVICE_IP).replace(
        "${CLUSTER_DOMAIN}", CLUSTER_DOMAIN
    )
    result = subprocess.run(
        [
            str(binaries.binary("kubectl")),
            "--kubeconfig",
            str(sup.layout.kubeconfig),
            "apply",
            "-f",
            "-",
        ],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"deploying CoreDNS: {result.stderr.strip()}")

    def available() -> bool:
        status, body = sup.api_get("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
        ready = probe.json_body(body).get("status", {}).get("availableReplicas", 0)
        return status == 200 and ready >= 1

    sup.wait_ready("CoreDNS", available)


def start_steps(layout: Layout, files: NodeFiles) -> list:
    return [
        holder(),
        containerd(files),
        kubelet(layout, files),
        kube_proxy(files),
        ("coredns", deploy_coredns),
    ]


def clean_up(files: NodeFiles, timeout: float = 15.0) -> None:
    """After the node's init died (its PID namespace took every shim and container with
    it): the kubelet's cgroups and the socket folder."""
    remove_cgroup_root(files.cgroup_root, timeout)
    files.remove_runtime_dirs()


def remove_cgroup_root(cgroup_root: str, timeout: float = 15.0) -> bool:
    """Remove a node's cgroup tree in every v1 hierarchy, deepest first. The kernel reaps a
    dead namespace's processes asynchronously, so a cgroup may stay busy for a moment: retry
    until empty. True when nothing is left."""
    deadline = time.monotonic() + timeout
    roots = [h / cgroup_root.lstrip("/") for h in Path("/sys/fs/cgroup").iterdir()]
    while True:
        for root in [r for r in roots if r.is_dir()]:
            for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()
        if not any(r.is_dir() for r in roots):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
