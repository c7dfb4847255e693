"""python -m tests.realkube up|down|serve|status [DIR] — a local Kubernetes for development.

up [DIR] [--node]   start a cluster in the background (default DIR: .cluster), wait until
                    it is ready, print how to use it; `make cluster-up` runs this
down [DIR]          stop it and remove DIR; `make cluster-down`
serve DIR [--node]  run a cluster in the foreground until a signal (what `up` detaches)
status [DIR]        what runs, with start timings
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.realkube import binaries, netns
from tests.realkube.layout import Layout

REPO = binaries.REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realkube")
    parser.add_argument("action", choices=["up", "down", "serve", "status"])
    parser.add_argument("dir", nargs="?", type=Path, default=REPO / ".cluster")
    parser.add_argument("--node", action="store_true", help="also run a node (kubelet, pods)")
    parser.add_argument("--api-port", type=int, default=0, help="host port for the API server")
    args = parser.parse_args(argv)
    layout = Layout(args.dir.resolve())
    if args.action == "serve":
        from tests.realkube.supervisor import Supervisor

        return Supervisor(layout, node=args.node, api_port=args.api_port).run()
    if args.action == "up":
        return up(layout, node=args.node, api_port=args.api_port)
    if args.action == "down":
        return down(layout)
    print(json.dumps(layout.read_state(), indent=2))
    return 0


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(layout: Layout, *, node: bool, api_port: int) -> int:
    state = layout.read_state()
    if _alive(state.get("pid")) and state.get("status") == "ready":
        print(f"already running: export KUBECONFIG={layout.kubeconfig}")
        return 0
    try:
        binaries.binary("kube-apiserver")
        binaries.binary("etcd")
    except binaries.MissingBinaries as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("error: a local cluster needs root (network namespaces)", file=sys.stderr)
        return 1
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.state.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.realkube", "serve", str(layout.root)]
    argv += ["--node"] * node + ["--api-port", str(api_port)]
    with open(layout.root / "supervisor.log", "ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    began = time.monotonic()
    last = ""
    while True:
        state = layout.read_state()
        status = state.get("status", "starting")
        progress = ", ".join(sorted(state.get("components", {})))
        if progress != last:
            print(f"  started: {progress}", flush=True)
            last = progress
        if status == "ready":
            break
        if status in ("failed", "stopped") or process.poll() is not None:
            print(f"error: the cluster did not start: {state.get('error', 'see logs')}")
            print(f"logs: {layout.logs}", file=sys.stderr)
            return 1
        time.sleep(0.3)
    took = time.monotonic() - began
    print(f"cluster ready in {took:.1f} s (Kubernetes {binaries.pinned_version()})")
    print(f"export KUBECONFIG={layout.kubeconfig}")
    print(f"kubectl: {binaries.bin_dir() / 'kubectl'}    stop: make cluster-down")
    return 0


def _unmount_under(root: Path) -> None:
    """Pod network namespace files are bind mounts under the state folder (containerd's
    netns_mounts_under_state_dir); a killed node leaves them mounted, and a mounted file
    cannot be removed. Deepest first; lazily, as nothing uses them any more."""
    prefix = str(root.resolve()) + "/"
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def down(layout: Layout) -> int:
    state = layout.read_state()
    pid = state.get("pid")
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    # Whatever a killed supervisor could not clean: its namespace and its node's cgroups
    # (named after the namespace).
    name = state.get("netns")
    if name in netns.stale_namespaces():
        netns.delete_namespace(name)
    if name:
        from tests.realkube.node import NodeFiles, remove_cgroup_root

        if not remove_cgroup_root("/" + name, timeout=10):
            print(f"warning: cgroups /sys/fs/cgroup/*/{name} still busy", file=sys.stderr)
        NodeFiles(layout, name).remove_runtime_dirs()
    _unmount_under(layout.root)
    if layout.root.exists():
        shutil.rmtree(layout.root, ignore_errors=True)
    print("cluster stopped" if pid else "no cluster was running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
